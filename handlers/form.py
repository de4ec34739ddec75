"""The admitted form as handlers see it.

`web/gate.py` admits a request into a werkzeug `MultiDict[str, str]`; handlers take it by its
shape alone (a repeated field such as `MessagingBinding.Address` needs `getlist`), so they
import nothing from HTTP code and tests may pass any MultiDict.
"""

from __future__ import annotations

from typing import Protocol, overload


class Form(Protocol):
    @overload
    def get(self, key: str) -> str | None: ...
    @overload
    def get(self, key: str, default: str) -> str: ...
    def getlist(self, key: str) -> list[str]: ...
