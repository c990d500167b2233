"""`manage.py check --deploy` refuses development secrets and demo mode."""

from iotadmin.checks import production_secrets_check


def test_development_defaults_are_deployment_errors(settings):
    settings.SECRET_KEY = "dev-only-insecure-key-change-me-in-production-0123456789abcdef"
    settings.IOT_PUSH_SECRET = "dev-push-secret"
    settings.IOT_DEMO_MODE = True
    settings.IOT_APP_SECRET = "iotadmin-demo-secret"
    settings.AUDIT_HMAC_KEY = ""
    ids = {error.id for error in production_secrets_check(None)}
    assert ids == {
        "iotadmin.E001",
        "iotadmin.E002",
        "iotadmin.E003",
        "iotadmin.E004",
        "iotadmin.E005",
    }


def test_production_values_pass(settings):
    settings.SECRET_KEY = "a-long-random-production-key-" + "x" * 40
    settings.IOT_PUSH_SECRET = "another-long-random-value"
    settings.IOT_DEMO_MODE = False
    settings.IOT_APP_SECRET = "the-real-platform-app-secret"
    settings.AUDIT_HMAC_KEY = "an-audit-key-kept-outside-the-database"
    assert production_secrets_check(None) == []
