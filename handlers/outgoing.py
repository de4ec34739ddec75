"""Frontline outgoing-conversations callback: which number a worker texts a customer from."""

from __future__ import annotations


from handlers.form import Form
from handlers.frontline_shapes import proxy_address, required
from runtime.config import settings
from runtime.deadline import Deadline
from runtime.errors import NoProxyAddress
from store.directory import default_directory


def get_proxy_address(params: Form, deadline: Deadline) -> dict[str, str]:
    worker = required(params, "Worker")
    channel_type = required(params, "ChannelType")
    current = settings()
    number = proxy_address(channel_type, default_directory(deadline).worker(worker), current.sms_number, current.whatsapp_number)
    if number is None:
        raise NoProxyAddress(f"no proxy address configured for channel {channel_type[:40]!r}")
    return {"proxy_address": number}


HANDLERS = {"GetProxyAddress": get_proxy_address}
