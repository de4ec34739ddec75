from tests.conftest import sign, signed_post, json_logs
from urllib.parse import urlencode
def test_probe(client, capsys):
    p = {"EventType": "onFoo"}
    url = "https://example.test/"
    r = client.post("/", data=urlencode(p), content_type="application/x-www-form-urlencoded",
                    headers={"X-Twilio-Signature": sign(url, p), "Host": "example.test", "X-Forwarded-Proto": "https"})
    print("proxy", r.status_code, r.get_json())
    r = client.get("/?EventType=onFoo&a=%C3%A9", headers={"X-Twilio-Signature": sign("http://localhost/?EventType=onFoo&a=%C3%A9", {})})
    print("get", r.status_code, r.get_json())
    r = client.post("/", data=b"x" * 2_000_000, content_type="application/x-www-form-urlencoded")
    print("big", r.status_code, r.data[:200], r.headers)
    r = client.put("/")
    print("put", r.status_code, r.data[:200], r.headers)
    r = client.post("/", json={"EventType": "onFoo"}, headers={"X-Twilio-Signature": sign("http://localhost/", {})})
    print("json", r.status_code, r.data[:200])
    print(capsys.readouterr().out, file=__import__('sys').stderr)
