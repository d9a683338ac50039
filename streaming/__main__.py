"""``python -m streaming worker -l info``: a Faust worker running every agent."""

from streaming import agents  # noqa: F401  (registers the agents and the table)
from streaming.app import app


def main() -> None:
    app.main()


if __name__ == "__main__":
    main()
