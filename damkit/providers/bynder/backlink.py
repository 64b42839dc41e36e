"""Backlink and permission vocabulary shared by the Bynder connector's check and backlink code.

Bynder's security-profile role strings were not found in any public source (bynder.md §5, [G]);
damkit uses upper-snake forms of the guide's permission names, and the sandbox answers with them.
A real portal's 403 on the write itself stays the authoritative signal.
"""

from __future__ import annotations

import re

from . import BACKLINK_PERMISSIONS

#: guide name -> wire name in ``GET /api/v4/profiles/{id}/`` ``roles``
ROLE_WIRE_NAMES: dict[str, str] = {
    "Metaproperty management": "METAPROPERTY_MANAGEMENT",
    "Permissions management": "PERMISSIONS_MANAGEMENT",
    "Edit media": "EDIT_MEDIA",
    "Download original": "DOWNLOAD_ORIGINAL",
}

TEXT_TYPES = ("text", "longtext")


def has_role(roles: set[str], guide_name: str) -> bool:
    """Whether ``roles`` grants ``guide_name`` (wire name, or the guide's words in any case)."""
    wanted = {ROLE_WIRE_NAMES.get(guide_name, guide_name).upper(), guide_name.upper(),
              guide_name.upper().replace(" ", "_")}
    return any(r.upper() in wanted for r in roles)


def permission_table(roles: set[str]) -> dict[str, bool]:
    """Each permission the backlink needs -> found in ``roles``."""
    return {name: has_role(roles, name) for name in BACKLINK_PERMISSIONS}


def property_name(label: str) -> str:
    """A metaproperty ``name`` for ``label``: Bynder names are unique, lower case, no spaces or
    special characters ("Gelato URL" -> "gelato_url")."""
    name = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")
    return name[:60] or "backlink_url"
