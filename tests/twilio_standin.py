"""Moved to tools/twilio_sandbox.py (make run starts it too); this name stays for test modules
written against it on branches not yet merged. New code imports tools.twilio_sandbox."""

from tools.twilio_sandbox import Fault, Recorded, TwilioSandbox

TwilioStandIn = TwilioSandbox

__all__ = ["Fault", "Recorded", "TwilioSandbox", "TwilioStandIn"]
