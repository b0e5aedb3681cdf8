"""The optional extras a way of signing in needs, and whether each is installed.

Google's and Amazon's libraries are large, and most deployments need neither: they are extras
(``pip install ".[google]"``, ``".[aws]"``), and a deployment that needs a missing one is a
config problem naming the extra, found at start-up rather than at the first command.
"""

from __future__ import annotations

import importlib.util

__all__ = ["EXTRAS", "install_hint", "missing_extra"]

# auth -> (the extra, the module it brings, what it is in words)
EXTRAS: dict[str, tuple[str, str, str]] = {
    "google": ("google", "google.auth", "Google's auth library (google-auth)"),
    "mwaa": ("aws", "boto3", "the AWS SDK (boto3)"),
}


def missing_extra(auth: str) -> str | None:
    """The extra ``auth`` needs when its library is not installed, else None."""
    if auth not in EXTRAS:
        return None
    extra, module, _ = EXTRAS[auth]
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a broken install
        found = False
    return None if found else extra


def install_hint(extra: str) -> str:
    what = next(words for name, _, words in EXTRAS.values() if name == extra)
    return (
        f"{what}, which is not installed: install the bot with the {extra} extra, "
        f'pip install -c constraints.txt ".[{extra}]" (on Heroku, write .[{extra}] in place of '
        "the . line of requirements.txt)"
    )
