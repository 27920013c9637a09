"""leadsift: sift contacts into leads, qualified prospects and customers.

`from leadsift import Workspace` opens a workspace; the import is lazy so worker processes
and the CLI do not pay for what they do not use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["ImportOptions", "Workspace", "__version__"]

if TYPE_CHECKING:
    from leadsift.contacts.schemas import ImportOptions
    from leadsift.workspace import Workspace


def __getattr__(name: str) -> Any:
    if name == "Workspace":
        from leadsift.workspace import Workspace  # noqa: PLC0415 - lazy on purpose

        return Workspace
    if name == "ImportOptions":
        from leadsift.contacts.schemas import ImportOptions  # noqa: PLC0415 - lazy on purpose

        return ImportOptions
    raise AttributeError(f"module 'leadsift' has no attribute {name!r}")
