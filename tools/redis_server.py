"""Which Redis server `REDIS_SERVER` picks, for the Makefile: `python tools/redis_server.py [chosen|other|version]`.

- chosen: `valkey` or `redis`;
- other: the kind `make test` runs its second pass on;
- version: e.g. `valkey 9.1.2 (/path/to/valkey-server)`; exits 1 with the reason when the binary is missing.
"""

from __future__ import annotations

import sys

from local_runtime.processes import ServerStartError
from local_runtime.redis_binaries import chosen_server_kind, other_server_kind, server_binary


def main(argv: list[str] | None = None) -> int:
    command = (argv if argv is not None else sys.argv[1:]) or ["version"]
    try:
        if command == ["chosen"]:
            print(chosen_server_kind())
        elif command == ["other"]:
            print(other_server_kind())
        elif command == ["version"]:
            binary = server_binary()
            print(f"{binary.version} ({binary.path})")
        else:
            print("usage: python tools/redis_server.py [chosen|other|version]", file=sys.stderr)
            return 2
    except ServerStartError as failure:
        print(failure, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
