"""A separate process that uses the platform client the way a web or worker process does.

Run as `python -m tests.devices.platform_worker --threads N`. It builds its client from
settings (environment variables: IOT_*, REDIS_URL, DATABASE_URL, IOTADMIN_VAR_DIR) through
devices.platform_wiring.get_client(), so several of these share one store (the database, or
Redis when REDIS_URL is set) exactly as real processes do. The protocol on stdin/stdout is
the one of tests/oceanconnect/platform_worker.py.
"""

import argparse
import os


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=20)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "iotadmin.settings")
    import django

    django.setup()
    from django.db import connection

    from devices.platform_wiring import get_client
    from tests.oceanconnect.platform_worker import serve

    serve(get_client(), threads=args.threads, thread_finished=connection.close)


if __name__ == "__main__":
    main()
