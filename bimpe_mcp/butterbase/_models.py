"""The Integrations API's shapes, named as the API names them (camelCase).

`available`, `connect` and `execute` answer as the document shows; the document leaves the other
answers unspecified, so these models admit what the sandbox serves and ignore unknown fields.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AvailableToolkit",
    "ConnectRequest",
    "Connection",
    "EnabledToolkit",
    "ExecuteResult",
    "IntegrationTool",
]


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)


class AvailableToolkit(_Answer):
    toolkit: str = Field(description="Toolkit slug.")
    displayName: str = Field(description="Human-readable name.")
    curated: bool = Field(description="One of the ten curated toolkits.")


class EnabledToolkit(_Answer):
    toolkit: str = Field(description="Toolkit slug.")
    displayName: str | None = Field(None, description="Name shown in the dashboard.")
    scopes: list[str] = Field(default_factory=list, description="OAuth scopes; empty: platform-managed.")


class ConnectRequest(_Answer):
    authUrl: str = Field(description="Where the user signs in to grant access.")
    connectionRequestId: str = Field(description="Id of this connection request.")


class Connection(_Answer):
    id: str = Field(description="Connection id.")
    toolkit: str = Field(description="Toolkit slug.")
    userId: str | None = Field(None, description="End user the account belongs to.")
    status: str | None = Field(None, description="e.g. active.")
    createdAt: str | None = Field(None, description="When the user connected.")


class IntegrationTool(_Answer):
    name: str = Field(description="Tool name for execute, e.g. GMAIL_SEND_EMAIL.")
    toolkit: str = Field(description="Toolkit slug.")
    description: str | None = Field(None, description="What the tool does.")


class ExecuteResult(_Answer):
    successful: bool = Field(description="Whether the tool succeeded.")
    data: dict[str, Any] | None = Field(None, description="The tool's output.")
