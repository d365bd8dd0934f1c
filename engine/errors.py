"""The one exception type for mistakes a user can make (bad input, bad option, unwritable output)."""


class PansharpenError(Exception):
    """A user-caused error with a one-line message that names the file and the fix.

    The CLI prints it and exits with status 2; the plugin shows it in the message bar.
    """

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class Cancelled(Exception):
    """Raised inside the engine when the caller's ``is_cancelled()`` returns True."""
