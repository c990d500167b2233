"""Deployment checks (`check --deploy`): development defaults must not reach production."""

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

DEV_SECRET_KEY_PREFIX = "dev-only-insecure"
DEV_PUSH_SECRET = "dev-push-secret"
DEMO_APP_SECRET = "iotadmin-demo-secret"


@register(deploy=True)
def production_secrets_check(app_configs: Any, **kwargs: Any) -> list[Error]:
    errors = []
    if settings.SECRET_KEY.startswith(DEV_SECRET_KEY_PREFIX):
        errors.append(Error("DJANGO_SECRET_KEY is the development default.", id="iotadmin.E001"))
    if settings.IOT_PUSH_SECRET == DEV_PUSH_SECRET:
        errors.append(
            Error(
                "IOT_PUSH_SECRET is the development default: anyone could post pushes.",
                hint="Set IOT_PUSH_SECRET (or IOT_PUSH_SECRET_FILE) to a long random value.",
                id="iotadmin.E002",
            )
        )
    if settings.IOT_APP_SECRET == DEMO_APP_SECRET:
        errors.append(
            Error(
                "IOT_APP_SECRET is the demo app's secret, known to everyone with the code.",
                hint="Set IOT_APP_SECRET (or IOT_APP_SECRET_FILE) to the platform app's secret.",
                id="iotadmin.E004",
            )
        )
    if not settings.AUDIT_HMAC_KEY:
        errors.append(
            Error(
                "AUDIT_HMAC_KEY is unset: the audit chain's key is derived from SECRET_KEY.",
                hint="Set AUDIT_HMAC_KEY (or AUDIT_HMAC_KEY_FILE) to a long random value kept "
                "outside the database, and AUDIT_CHECKPOINT_PATH to a file outside it too.",
                id="iotadmin.E005",
            )
        )
    if settings.IOT_DEMO_MODE:
        errors.append(
            Error(
                "IOT_DEMO_MODE is on: the demo 'plug in the unit' button talks to a simulator.",
                hint="Set IOT_DEMO_MODE=false in production.",
                id="iotadmin.E003",
            )
        )
    return errors
