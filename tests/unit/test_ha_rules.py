"""tests/integration/ha_rules.py against the golden discovery payloads (which must pass) and against broken
variants of them (each of which must be caught: a validator that cannot fail proves nothing)."""

import copy
import json
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import ha_rules  # noqa: E402

GOLDEN = os.path.join(HERE, "golden")

# The payloads of ha.h's contract for the golden context (gateway "pi-kitchen", band c80f10112233).
STATE = {
    "state": "ready", "connected": True, "steps": 4711, "distance": 3200, "calories": 150, "battery": 87,
    "charging": False, "heart_rate": 72, "last_sync": "2026-11-25T10:00:00+01:00", "firmware": "V1.0.1.81",
    "rssi": -67,
}
HEALTH = {"uptime": 3600, "rss_kb": 5120, "outbox": 0, "reconnects": 1, "adapter_resets": 0, "db_bytes": 81920,
          "bands": 1}


def states(state=None, health=None):
    return {
        "bandgate/c80f10112233/state": json.dumps(STATE if state is None else state),
        "bandgate/pi-kitchen/health": json.dumps(HEALTH if health is None else health),
        "bandgate/pi-kitchen/status": "online",
        "bandgate/c80f10112233/event": json.dumps({"event_type": "press"}),
    }


def compact(payload):
    return payload if payload == "" else json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def golden(mode, *names):
    """The messages of golden files, as published (compact JSON, "" for removals)."""
    messages = {}
    for name in names:
        with open(os.path.join(GOLDEN, f"ha-{mode}-{name}.json"), encoding="utf-8") as f:
            for topic, payload in json.load(f).items():
                messages[topic] = compact(payload)
    return messages


def parsed(messages):
    return {t: (json.loads(p) if p else "") for t, p in messages.items()}


class Golden(unittest.TestCase):
    def test_device_mode_passes(self):
        self.assertEqual(ha_rules.problems(golden("device", "gateway", "band"), states()), [])

    def test_component_mode_passes(self):
        self.assertEqual(ha_rules.problems(golden("component", "gateway", "band"), states()), [])

    def test_removals_pass(self):
        for mode in ("device", "component"):
            self.assertEqual(ha_rules.problems(golden(mode, "band-remove"), {}), [])

    def test_nulls_and_a_fresh_band_pass(self):
        """Before the first sync: battery, heart rate, last sync, firmware and RSSI are null (unknown)."""
        state = dict(STATE, battery=None, heart_rate=None, last_sync=None, firmware=None, rssi=None,
                     connected=False, state="connecting", steps=0, distance=0, calories=0)
        for mode in ("device", "component"):
            self.assertEqual(ha_rules.problems(golden(mode, "gateway", "band"), states(state)), [])


def device_cmps(messages):
    """The band's device config, parsed, and its components."""
    topic = "homeassistant/device/bandgate_c80f10112233/config"
    root = json.loads(messages[topic])
    return topic, root, root["cmps"]


class Broken(unittest.TestCase):
    """Each case breaks the golden device-mode messages in one way and names a word of the expected problem."""

    def setUp(self):
        self.messages = golden("device", "gateway", "band")

    def caught(self, messages, needle, state_payloads=None):
        found = ha_rules.problems(messages, states() if state_payloads is None else state_payloads)
        self.assertTrue(any(needle in p for p in found), f"'{needle}' not among {found}")

    def mutate(self, change):
        topic, root, cmps = device_cmps(self.messages)
        change(root, cmps)
        messages = dict(self.messages)
        messages[topic] = compact(root)
        return messages

    def test_missing_platform(self):
        self.caught(self.mutate(lambda r, c: c["steps"].pop("p")), "'p' (platform) is required")

    def test_unknown_platform(self):
        self.caught(self.mutate(lambda r, c: c["steps"].update(p="sensr")), "not supported")

    def test_duplicate_unique_id(self):
        self.caught(self.mutate(lambda r, c: c["distance"].update(uniq_id=c["steps"]["uniq_id"])),
                    "unique_id bandgate_c80f10112233_steps repeats")

    def test_duplicate_unique_id_across_devices(self):
        def change(root, cmps):
            cmps["steps"]["uniq_id"] = "bandgate_pi-kitchen_uptime"
        self.caught(self.mutate(change), "repeats")

    def test_bad_abbreviation(self):
        def change(root, cmps):
            cmps["steps"]["stat_topic"] = cmps["steps"].pop("stat_t")
        messages = self.mutate(change)
        self.caught(messages, "'stat_topic' is not a sensor option")
        self.caught(messages, "requires 'state_topic'")

    def test_key_of_another_platform(self):
        self.caught(self.mutate(lambda r, c: c["steps"].update(pl_prs="GO")), "'payload_press' is not a sensor")

    def test_abbreviated_and_full(self):
        self.caught(self.mutate(lambda r, c: c["steps"].update(state_topic="bandgate/x/state")), "given twice")

    def test_wildcard_in_state_topic(self):
        self.caught(self.mutate(lambda r, c: c["steps"].update(stat_t="bandgate/+/state")), "wildcard")

    def test_wildcard_in_command_topic(self):
        self.caught(self.mutate(lambda r, c: c["find"].update(cmd_t="bandgate/c80f10112233/cmd/#")), "wildcard")

    def test_wildcard_in_discovery_topic(self):
        messages = dict(self.messages)
        messages["homeassistant/device/bandgate_+/config"] = messages.pop(
            "homeassistant/device/bandgate_c80f10112233/config")
        self.caught(messages, "wildcard")

    def test_bad_discovery_topic(self):
        messages = dict(self.messages)
        messages["homeassistant/device/bandgate.c80f/config"] = messages.pop(
            "homeassistant/device/bandgate_c80f10112233/config")
        self.caught(messages, "not <prefix>/<component>")

    def test_outside_prefix(self):
        self.caught(dict(self.messages, **{"bandgate/device/x/config": "{}"}), "not under the discovery prefix")

    def test_string_for_numeric_sensor(self):
        self.caught(self.mutate(lambda r, c: c["steps"].update(val_tpl="{{ value_json.state }}")),
                    "renders 'ready' but the sensor is numeric")

    def test_numeric_state_is_a_string(self):
        self.caught(self.messages, "renders 'many' but the sensor is numeric", states(dict(STATE, steps="many")))

    def test_missing_field(self):
        state = dict(STATE)
        del state["battery"]
        self.caught(self.messages, "value template fails", states(state))

    def test_template_syntax(self):
        self.caught(self.mutate(lambda r, c: c["steps"].update(val_tpl="{{ value_json.steps }")), "does not parse")

    def test_timestamp_without_zone(self):
        self.caught(self.messages, "without a time zone", states(dict(STATE, last_sync="2026-11-25T10:00:00")))

    def test_timestamp_not_iso(self):
        self.caught(self.messages, "not an ISO 8601", states(dict(STATE, last_sync="yesterday")))

    def test_binary_sensor_neither_on_nor_off(self):
        self.caught(self.mutate(lambda r, c: c["connected"].update(val_tpl="{{ value_json.connected }}")),
                    "neither payload_on")

    def test_event_type_unknown(self):
        s = states()
        s["bandgate/c80f10112233/event"] = json.dumps({"event_type": "double_press"})
        self.caught(self.messages, "is not one of event_types", s)

    def test_event_without_types(self):
        self.caught(self.mutate(lambda r, c: c["button"].pop("evt_typ")), "requires 'event_types'")

    def test_no_state(self):
        s = states()
        del s["bandgate/pi-kitchen/health"]
        self.caught(self.messages, "no state on 'bandgate/pi-kitchen/health'", s)

    def test_battery_unit(self):
        self.caught(self.mutate(lambda r, c: c["battery"].update(unit_of_meas="percent")),
                    "not valid for device class 'battery'")

    def test_energy_in_kcal_with_measurement(self):
        self.caught(self.mutate(lambda r, c: c["calories"].update(dev_cla="energy", stat_cla="measurement")),
                    "impossible for device class 'energy'")

    def test_timestamp_with_state_class(self):
        self.caught(self.mutate(lambda r, c: c["last_sync"].update(stat_cla="measurement")), "impossible")

    def test_unknown_state_class(self):
        self.caught(self.mutate(lambda r, c: c["steps"].update(stat_cla="total_increase")), "is unknown")

    def test_unknown_device_class(self):
        self.caught(self.mutate(lambda r, c: c["find"].update(dev_cla="locate")), "not a button device class")

    def test_sensor_config_category(self):
        self.caught(self.mutate(lambda r, c: c["firmware"].update(ent_cat="config")), "cannot have entity_category")

    def test_bad_entity_category(self):
        self.caught(self.mutate(lambda r, c: c["reboot"].update(ent_cat="system")), "not config or diagnostic")

    def test_object_id(self):
        self.caught(self.mutate(lambda r, c: c["steps"].update(obj_id="steps")), "deprecated")

    def test_no_default_entity_id(self):
        self.caught(self.mutate(lambda r, c: c["steps"].pop("def_ent_id")), "no default_entity_id")

    def test_default_entity_id_wrong_domain(self):
        self.caught(self.mutate(lambda r, c: c["find"].update(def_ent_id="sensor.mi_band_2_find")), "domain")

    def test_default_entity_id_invalid(self):
        self.caught(self.mutate(lambda r, c: c["steps"].update(def_ent_id="sensor.Mi-Band")), "not a valid entity")

    def test_no_unique_id(self):
        self.caught(self.mutate(lambda r, c: c["steps"].pop("uniq_id")), "no unique_id")

    def test_no_origin(self):
        self.caught(self.mutate(lambda r, c: r.pop("o")), "'origin' is required")

    def test_origin_without_name(self):
        self.caught(self.mutate(lambda r, c: r["o"].pop("name")), "origin needs a name")

    def test_no_device(self):
        self.caught(self.mutate(lambda r, c: r.pop("dev")), "'device' is required")

    def test_unknown_top_level_key(self):
        self.caught(self.mutate(lambda r, c: r.update(stat_cla="measurement")), "not allowed at the top")

    def test_unknown_device_key(self):
        self.caught(self.mutate(lambda r, c: r["dev"].update(firmware="1")), "device key 'firmware'")

    def test_bad_connection(self):
        self.caught(self.mutate(lambda r, c: r["dev"].update(cns=[["bt", "C8:0F:10:11:22:33"]])), "connections")

    def test_via_device_elsewhere(self):
        self.caught(self.mutate(lambda r, c: r["dev"].update(via_device="bandgate_other")), "via_device")

    def test_bad_configuration_url(self):
        self.caught(self.mutate(lambda r, c: r["dev"].update(cu="192.168.1.5:8080")), "configuration_url")

    def test_availability_without_gateway(self):
        def change(root, cmps):
            cmps["steps"]["avty"] = [{"t": "bandgate/c80f10112233/availability"}]
        self.caught(self.mutate(change), "does not start with the gateway status")

    def test_availability_mode_latest(self):
        self.caught(self.mutate(lambda r, c: c["steps"].update(avty_mode="latest")), "need availability_mode all")

    def test_no_availability(self):
        def change(root, cmps):
            cmps["steps"].pop("avty")
            cmps["steps"].pop("avty_mode")
        self.caught(self.mutate(change), "no availability list")

    def test_availability_entry_without_topic(self):
        self.caught(self.mutate(lambda r, c: c["steps"]["avty"].append({"topic_x": "a"})), "needs a topic")

    def test_bad_qos(self):
        self.caught(self.mutate(lambda r, c: c["steps"].update(qos=3)), "qos")

    def test_bad_icon(self):
        self.caught(self.mutate(lambda r, c: c["steps"].update(ic="walk")), "prefix:name")

    def test_payload_not_json(self):
        messages = dict(self.messages)
        messages["homeassistant/device/bandgate_c80f10112233/config"] = "{"
        self.caught(messages, "not JSON")

    def test_duplicate_discovery_id_across_modes(self):
        """The same entity once per component and once in the device config: one discovery id, twice."""
        messages = dict(self.messages, **golden("component", "band"))
        self.caught(messages, "discovery id")

    def test_component_mode_with_platform(self):
        messages = golden("component", "gateway", "band")
        topic = "homeassistant/sensor/bandgate_c80f10112233/steps/config"
        payload = json.loads(messages[topic])
        payload["p"] = "sensor"
        messages[topic] = compact(payload)
        self.caught(messages, "'p' belongs to the components")

    def test_component_mode_device_differs(self):
        messages = golden("component", "gateway", "band")
        topic = "homeassistant/sensor/bandgate_c80f10112233/steps/config"
        payload = json.loads(messages[topic])
        payload["dev"]["name"] = "Another name"
        messages[topic] = compact(payload)
        self.caught(messages, "differs from the same device")


class Golden2(unittest.TestCase):
    def test_golden_files_are_what_the_test_compares(self):
        """Every payload in the golden files parses back to itself (no float or escape surprises)."""
        for name in os.listdir(GOLDEN):
            with open(os.path.join(GOLDEN, name), encoding="utf-8") as f:
                doc = json.load(f)
            self.assertEqual(parsed({t: compact(p) for t, p in doc.items()}), copy.deepcopy(doc))


if __name__ == "__main__":
    unittest.main()
