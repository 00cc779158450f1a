from support.csms import RecordingCsms
from support.live import Voltlab, eventually


async def test_a_created_charger_connects_boots_and_heartbeats(
    voltlab: Voltlab, csms: RecordingCsms
):
    csms.boot_interval = 1
    response = await voltlab.client.post(
        "/ocpp/chargers",
        json={
            "identity": "CP-1",
            "brand_slug": "abb",
            "model_slug": "terra-184",
            "connector_type": "CCS2",
            "ws_url": csms.url,
            "ocpp_version": "OCPP1.6",
            "location_name": "Depot",
        },
    )
    assert response.status_code == 202
    charger_id = response.json()["charger_id"]
    await csms.wait_for("CP-1", "Heartbeat")

    async def ready():
        body = (await voltlab.client.get(f"/ocpp/chargers/{charger_id}/status")).json()
        return body["status"] == "READY"

    await eventually(ready)
    charger = (await voltlab.client.get(f"/ocpp/chargers/{charger_id}")).json()
    assert charger["runtime"]["boot_status"] == "Accepted"
    assert charger["runtime"]["connection"] == "connected"
