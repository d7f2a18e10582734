"""The one error the engine raises: Log Analytics' inner error code (SyntaxError, SemanticError)
and a message naming what is wrong; the service answers it as 400 BadArgumentError."""
from __future__ import annotations


class KqlError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
