"""``python -m live``: the live channel's server on LIVE_PORT (default 5001)."""

from __future__ import annotations

from live.server import main

if __name__ == "__main__":
    main()
