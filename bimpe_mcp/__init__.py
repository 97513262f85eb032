"""bimpe-mcp: the BimpeAI Console API as typed MCP tools."""

__version__ = "0.1.0"

DEFAULT_BASE_URL = "https://api.bimpe.ai"

DEFAULT_BUTTERBASE_URL = "https://api.butterbase.ai"
