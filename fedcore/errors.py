"""The one error type a user can cause."""


class FedXrayError(Exception):
    """A problem the user can fix: a bad folder, an unreadable image, a wrong setting.

    The message says what is wrong and what to do; the CLI and the dashboard show it
    as it is, without a traceback.
    """
