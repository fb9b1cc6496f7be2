import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from demo.data import demo_exposure


class Command(BaseCommand):
    help = (
        "Refuse to serve beyond loopback while demo users keep their published passwords or "
        "DEBUG runs on the public development key (`make run` calls it; DEMO_ON_NETWORK=1 "
        "insists)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", required=True, help="The address the server will bind.")

    def handle(self, *args: Any, host: str, **options: Any) -> None:
        problems = demo_exposure(host=host)
        if not problems:
            return
        if os.environ.get("DEMO_ON_NETWORK", "").strip() == "1":
            self.stderr.write(
                f"Serving on {host} with {'; '.join(problems)} (DEMO_ON_NETWORK=1): anyone who "
                "reaches this address can sign in."
            )
            return
        raise CommandError(
            f"Refusing to serve on {host}: {'; '.join(problems)}. Anyone who reaches this "
            "address could sign in. Serve on 127.0.0.1 (the default), or change the demo users' "
            "passwords (manage.py changepassword admin, ...) and set SECRET_KEY (see the "
            "README's Production section), or run `make run HOST=... DEMO_ON_NETWORK=1` to "
            "insist on a demo reachable from the network."
        )
