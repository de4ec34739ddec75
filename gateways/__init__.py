"""Outbound calls to services other than Firestore (today: Twilio's REST API)."""
