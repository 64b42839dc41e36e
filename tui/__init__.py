"""damkit's terminal console: a keyboard-driven onboarding console for implementation specialists.

Screens render what the core (``damkit.Workspace``) returns; no provider logic, validation or sync
logic lives here.
"""

from .app import DamkitApp, run

__all__ = ["DamkitApp", "run"]
