"""Home Assistant's rules for MQTT discovery payloads, as a validator for bandgate's tests.

    problems(messages, states, prefix="homeassistant") -> list[str]

messages maps each discovery topic to its payload as published ("" removes); states maps the topics the entities
read to a payload seen there (the retained state and health JSON, the gateway status, an event). An empty list
means Home Assistant would accept every config and every entity would get a value of the right type.

The rules were read from home-assistant/core (2024.11 .. 2026.x); each names its source under
homeassistant/components/. They are facts, restated here; nothing is copied. Where Home Assistant merely ignores
a mistake (unknown keys are dropped from a discovery payload without a word) this validator reports it, since a
dropped key is a feature that silently does not exist. Some rules are bandgate's own and say so.

Uses the standard library and Debian's python3-jinja2 (Home Assistant's templates are Jinja2).
"""

import collections
import datetime
import json
import math
import re

import jinja2

# mqtt/abbreviations.py: the abbreviations a discovery payload may use, for the keys of the platforms bandgate
# publishes (a key outside this table is then reported as unknown for its platform).
ABBREVIATIONS = {
    "avty": "availability", "avty_mode": "availability_mode", "avty_t": "availability_topic",
    "avty_tpl": "availability_template", "cmd_t": "command_topic", "cmd_tpl": "command_template",
    "cmps": "components", "def_ent_id": "default_entity_id", "dev": "device", "dev_cla": "device_class",
    "e": "encoding", "en": "enabled_by_default", "ent_cat": "entity_category", "ent_pic": "entity_picture",
    "evt_typ": "event_types", "exp_aft": "expire_after", "frc_upd": "force_update", "ic": "icon",
    "json_attr_t": "json_attributes_topic", "json_attr_tpl": "json_attributes_template",
    "lrst_val_tpl": "last_reset_value_template", "migr_discvry": "migrate_discovery", "name": "name",
    "o": "origin", "obj_id": "object_id", "off_dly": "off_delay", "ops": "options", "p": "platform",
    "pl_avail": "payload_available", "pl_not_avail": "payload_not_available", "pl_off": "payload_off",
    "pl_on": "payload_on", "pl_prs": "payload_press", "ret": "retain", "stat_cla": "state_class",
    "stat_t": "state_topic", "sug_dsp_prc": "suggested_display_precision", "t": "topic",
    "uniq_id": "unique_id", "unit_of_meas": "unit_of_measurement", "val_tpl": "value_template",
}
DEVICE_ABBREVIATIONS = {
    "cns": "connections", "cu": "configuration_url", "ids": "identifiers", "name": "name", "mf": "manufacturer",
    "mdl": "model", "mdl_id": "model_id", "hw": "hw_version", "sw": "sw_version", "sa": "suggested_area",
    "sn": "serial_number",
}
ORIGIN_ABBREVIATIONS = {"name": "name", "sw": "sw_version", "url": "support_url"}

# mqtt/discovery.py TOPIC_MATCHER, applied to the topic after "<prefix>/".
TOPIC_MATCHER = re.compile(r"(?P<component>\w+)/(?:(?P<node_id>[a-zA-Z0-9_-]+)/)?(?P<object_id>[a-zA-Z0-9_-]+)/config")

# mqtt/const.py SUPPORTED_COMPONENTS and ENTITY_PLATFORMS (the latter need a unique_id in a device config).
SUPPORTED_COMPONENTS = {
    "alarm_control_panel", "binary_sensor", "button", "camera", "climate", "cover", "date", "datetime",
    "device_automation", "device_tracker", "event", "fan", "humidifier", "image", "infrared", "lawn_mower", "light",
    "lock", "notify", "number", "scene", "siren", "select", "sensor", "switch", "tag", "text", "time", "update",
    "vacuum", "valve", "water_heater",
}
NOT_ENTITIES = {"device_automation", "tag"}
AVAILABILITY_MODES = {"all", "any", "latest"}

# mqtt/schemas.py: the device, origin and availability schemas, the options shared by a device config with its
# components (SHARED_OPTIONS), and the keys every entity accepts (MQTT_ENTITY_COMMON_SCHEMA, MQTT_BASE_SCHEMA).
DEVICE_KEYS = {
    "identifiers", "connections", "manufacturer", "model", "model_id", "name", "hw_version", "serial_number",
    "sw_version", "via_device", "suggested_area", "configuration_url",
}
ORIGIN_KEYS = {"name", "sw_version", "support_url"}
AVAILABILITY_ENTRY_KEYS = {"topic", "payload_available", "payload_not_available", "value_template"}
AVAILABILITY_KEYS = {
    "availability", "availability_mode", "availability_template", "availability_topic", "payload_available",
    "payload_not_available",
}
SHARED_OPTIONS = AVAILABILITY_KEYS | {
    "command_topic", "encoding", "message_expiry_interval", "state_topic", "qos",
}
DEVICE_CONFIG_KEYS = SHARED_OPTIONS | {"device", "origin", "components"}
COMMON_KEYS = AVAILABILITY_KEYS | {
    "device", "entity_picture", "origin", "enabled_by_default", "entity_category", "icon", "json_attributes_topic",
    "json_attributes_template", "default_entity_id", "object_id", "message_expiry_interval", "unique_id",
    "visible_by_default", "qos", "encoding", "platform",
}
# The platform schemas (mqtt/sensor.py, binary_sensor.py, button.py, notify.py, event.py): keys beyond the common
# ones, and the keys each requires (state_topic comes from MQTT_RO_SCHEMA in mqtt/config.py).
PLATFORM_KEYS = {
    "sensor": {"state_topic", "value_template", "device_class", "expire_after", "force_update",
               "last_reset_value_template", "name", "options", "suggested_display_precision", "state_class",
               "unit_of_measurement"},
    "binary_sensor": {"state_topic", "value_template", "device_class", "expire_after", "force_update", "name",
                      "off_delay", "payload_off", "payload_on"},
    "button": {"command_template", "command_topic", "device_class", "name", "payload_press", "retain"},
    "notify": {"command_template", "command_topic", "name", "retain"},
    "event": {"state_topic", "value_template", "device_class", "name", "event_types"},
}
REQUIRED_KEYS = {
    "sensor": {"state_topic"}, "binary_sensor": {"state_topic"}, "button": {"command_topic"},
    "notify": {"command_topic"}, "event": {"state_topic", "event_types"},
}

# sensor/const.py SensorDeviceClass, SensorStateClass, DEVICE_CLASS_STATE_CLASSES and DEVICE_CLASS_UNITS (units
# from the Unit* enums of homeassistant/const.py), for the classes a band or a gateway could use.
ALL_STATE_CLASSES = {"measurement", "measurement_angle", "total", "total_increasing"}
SENSOR_STATE_CLASSES = {
    "apparent_power": {"measurement"}, "aqi": {"measurement"}, "area": ALL_STATE_CLASSES,
    "atmospheric_pressure": {"measurement"}, "battery": {"measurement"},
    "blood_glucose_concentration": {"measurement"}, "co": {"measurement"}, "co2": {"measurement"},
    "conductivity": {"measurement"}, "current": {"measurement"}, "data_rate": {"measurement"},
    "data_size": ALL_STATE_CLASSES, "date": set(), "distance": ALL_STATE_CLASSES, "duration": ALL_STATE_CLASSES,
    "energy": {"total", "total_increasing"}, "energy_distance": {"measurement"}, "energy_storage": {"measurement"},
    "enum": set(), "frequency": {"measurement"}, "gas": {"total", "total_increasing"}, "humidity": {"measurement"},
    "illuminance": {"measurement"}, "irradiance": {"measurement"}, "moisture": {"measurement"},
    "monetary": {"total"}, "nitrogen_dioxide": {"measurement"}, "nitrogen_monoxide": {"measurement"},
    "nitrous_oxide": {"measurement"}, "ozone": {"measurement"}, "ph": {"measurement"}, "pm1": {"measurement"},
    "pm10": {"measurement"}, "pm25": {"measurement"}, "power_factor": {"measurement"}, "power": {"measurement"},
    "precipitation": ALL_STATE_CLASSES, "precipitation_intensity": {"measurement"}, "pressure": {"measurement"},
    "reactive_power": {"measurement"}, "signal_strength": {"measurement"}, "sound_pressure": {"measurement"},
    "speed": {"measurement"}, "sulphur_dioxide": {"measurement"}, "temperature": {"measurement"},
    "timestamp": set(), "volatile_organic_compounds": {"measurement"},
    "volatile_organic_compounds_parts": {"measurement"}, "voltage": {"measurement"},
    "volume": {"total", "total_increasing"}, "volume_storage": {"measurement"}, "volume_flow_rate": {"measurement"},
    "water": {"total", "total_increasing"}, "weight": {"measurement", "total", "total_increasing"},
    "wind_direction": {"measurement_angle"}, "wind_speed": {"measurement"},
}
_ENERGY = {"J", "kJ", "MJ", "GJ", "mWh", "Wh", "kWh", "MWh", "GWh", "TWh", "cal", "kcal", "Mcal", "Gcal"}
_INFORMATION = {"bit", "kbit", "Mbit", "Gbit", "B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB", "KiB", "MiB",
                "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"}
SENSOR_UNITS = {
    "battery": {"%"}, "humidity": {"%"}, "moisture": {"%"},
    "distance": {"km", "m", "cm", "mm", "mi", "nmi", "yd", "in", "ft"},
    "duration": {"d", "h", "min", "s", "ms", "μs"},
    "energy": _ENERGY, "energy_storage": _ENERGY, "data_size": _INFORMATION,
    "signal_strength": {"dB", "dBm"}, "temperature": {"°C", "°F", "K"},
}
NON_NUMERIC_SENSOR_CLASSES = {"date", "enum", "timestamp"}
# binary_sensor/__init__.py BinarySensorDeviceClass, button/__init__.py ButtonDeviceClass, event/__init__.py
# EventDeviceClass; helpers/entity.py EntityCategory.
BINARY_SENSOR_CLASSES = {
    "battery", "battery_charging", "carbon_monoxide", "cold", "connectivity", "door", "garage_door", "gas", "heat",
    "light", "lock", "moisture", "motion", "moving", "occupancy", "opening", "plug", "power", "presence", "problem",
    "running", "safety", "smoke", "sound", "tamper", "update", "vibration", "window",
}
DEVICE_CLASSES = {
    "sensor": set(SENSOR_STATE_CLASSES), "binary_sensor": BINARY_SENSOR_CLASSES,
    "button": {"identify", "restart", "update"}, "event": {"button", "doorbell", "motion"}, "notify": set(),
}
ENTITY_CATEGORIES = {"config", "diagnostic"}
# sensor/__init__.py and binary_sensor/__init__.py refuse to add an entity whose category is config.
NO_CONFIG_CATEGORY = {"sensor", "binary_sensor"}
# helpers/device_registry.py connection types.
CONNECTION_TYPES = {"mac", "bluetooth", "upnp", "zigbee"}

# helpers/config_validation.py valid_entity_id: "<domain>.<object id>", [a-z0-9_] without leading, trailing or
# doubled underscores.
ENTITY_ID = re.compile(r"^(?!.+__)(?!_)[\da-z_]+(?<!_)\.(?!_)[\da-z_]+(?<!_)$")
MAC = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
# mqtt/const.py: the payloads Home Assistant assumes, and "None", which a template renders for null and which
# sensor.py and binary_sensor.py take as "unknown".
PAYLOAD_NONE = "None"
MAX_STATE_LENGTH = 255  # helpers/entity.py: a longer state is refused


def problems(messages, states, prefix="homeassistant"):
    """Every rule the discovery messages break, as sentences naming the topic and the key."""
    out = []
    entities = []
    for topic in sorted(messages):
        _check_message(topic, messages[topic], prefix, out, entities)
    _check_unique(entities, out)
    _check_devices(entities, out)
    _check_availability(entities, out)
    for e in entities:
        _check_state(e, states, out)
    return out


class _Entity:
    def __init__(self, where, platform, discovery_id, config):
        self.where = where              # "topic" or "topic cmps/<key>", for messages
        self.platform = platform
        self.discovery_id = discovery_id
        self.config = config            # full key names, shared options merged in

    def get(self, key, default=None):
        return self.config.get(key, default)


def _check_message(topic, payload, prefix, out, entities):
    if not topic.startswith(prefix + "/"):
        out.append(f"{topic}: not under the discovery prefix '{prefix}/'")
        return
    _check_topic_chars(topic, topic, "discovery topic", out)
    match = TOPIC_MATCHER.fullmatch(topic[len(prefix) + 1:])
    if not match:  # discovery.py warns "illegal discovery topic" and drops the message
        out.append(f"{topic}: not <prefix>/<component>/[<node_id>/]<object_id>/config with ids of [a-zA-Z0-9_-]")
        return
    component, node_id, object_id = match.group("component", "node_id", "object_id")
    if component != "device" and component not in SUPPORTED_COMPONENTS:
        out.append(f"{topic}: component '{component}' is not one MQTT discovery supports")
        return
    if payload == "":
        return  # a removal
    try:
        config = json.loads(payload)
    except ValueError as exc:
        out.append(f"{topic}: payload is not JSON ({exc})")
        return
    if not isinstance(config, dict):
        out.append(f"{topic}: payload is not a JSON object")
        return
    if component == "device":
        _check_device_config(topic, node_id, object_id, config, out, entities)
    else:
        _check_component_config(topic, component, node_id, object_id, config, out, entities)


def _expand(where, obj, table, out):
    """The object with abbreviations replaced (discovery.py _replace_abbreviations); reports a key given twice."""
    full = {}
    for key, value in obj.items():
        name = table.get(key, key)
        if name in full:
            out.append(f"{where}: '{name}' is given twice (abbreviated and in full); one silently wins")
        full[name] = value
    return full


def _expand_entity(where, obj, out):
    config = _expand(where, obj, ABBREVIATIONS, out)
    if isinstance(config.get("availability"), list):
        config["availability"] = [_expand(where, a, ABBREVIATIONS, out) if isinstance(a, dict) else a
                                  for a in config["availability"]]
    if isinstance(config.get("device"), dict):
        config["device"] = _expand(where + " device", config["device"], DEVICE_ABBREVIATIONS, out)
    if isinstance(config.get("origin"), dict):
        config["origin"] = _expand(where + " origin", config["origin"], ORIGIN_ABBREVIATIONS, out)
    return config


def _check_device_config(topic, node_id, object_id, raw, out, entities):
    """mqtt/discovery.py _parse_device_payload and schemas.py DEVICE_DISCOVERY_SCHEMA."""
    root = _expand_entity(topic, raw, out)
    if "migrate_discovery" in root:
        return
    for key in sorted(set(root) - DEVICE_CONFIG_KEYS - {"~"}):
        out.append(f"{topic}: '{key}' is not allowed at the top of a device config (the whole config is refused)")
    for key in ("device", "origin", "components"):
        if key not in root:
            out.append(f"{topic}: '{key}' is required in a device config")
    _check_device_info(topic, root.get("device"), out)
    _check_origin(topic, root.get("origin"), out)
    components = root.get("components")
    if not isinstance(components, dict):
        return
    base_node = f"{node_id} {object_id}" if node_id else object_id
    for key, comp in components.items():
        where = f"{topic} cmps/{key}"
        if not isinstance(comp, dict):
            out.append(f"{where}: a component is a JSON object")
            continue
        config = _expand_entity(where, comp, out)
        platform = config.pop("platform", None)
        if platform is None:
            out.append(f"{where}: 'p' (platform) is required in every component")
            continue
        if platform not in SUPPORTED_COMPONENTS:
            out.append(f"{where}: platform '{platform}' is not supported")
            continue
        if not re.fullmatch(r"[a-zA-Z0-9_-]+", key):
            out.append(f"{where}: component id is not [a-zA-Z0-9_-]+")
        if config:  # only "p": a removal of that component
            for shared in SHARED_OPTIONS:  # discovery.py _merge_common_device_options
                if shared in root and shared not in config:
                    config[shared] = root[shared]
            config["device"], config["origin"] = root.get("device"), root.get("origin")
            for bad in ("device", "origin"):
                if bad in _expand(where, comp, ABBREVIATIONS, []):
                    out.append(f"{where}: '{bad}' belongs to the device config, not to a component")
            _check_entity(where, platform, f"{base_node} {key}", config, out, entities)


def _check_component_config(topic, component, node_id, object_id, raw, out, entities):
    config = _expand_entity(topic, raw, out)
    if "migrate_discovery" in config:
        return
    if "components" in config:
        out.append(f"{topic}: 'cmps' belongs to a device config (<prefix>/device/<id>/config)")
    if "platform" in config:
        out.append(f"{topic}: 'p' belongs to the components of a device config")
    config.pop("platform", None)
    if component in NOT_ENTITIES:
        return
    _check_device_info(topic, config.get("device"), out)
    _check_origin(topic, config.get("origin"), out)
    discovery_id = f"{node_id} {object_id}" if node_id else object_id
    _check_entity(topic, component, discovery_id, config, out, entities)


def _check_device_info(where, dev, out):
    """schemas.py MQTT_ENTITY_DEVICE_INFO_SCHEMA (extra keys refuse the config)."""
    if dev is None:
        out.append(f"{where}: no device ('dev'): the entity would belong to no device")
        return
    if not isinstance(dev, dict):
        out.append(f"{where}: 'dev' is not an object")
        return
    for key in sorted(set(dev) - DEVICE_KEYS):
        out.append(f"{where}: device key '{key}' is unknown (the config is refused)")
    ids = dev.get("identifiers", [])
    ids = ids if isinstance(ids, list) else [ids]
    if not all(isinstance(i, str) and i for i in ids):
        out.append(f"{where}: device identifiers must be non-empty strings")
    cns = dev.get("connections", [])
    if not isinstance(cns, list) or not all(_connection_ok(c) for c in cns):
        out.append(f"{where}: device connections must be [[type, value]] with a known type and a MAC address")
    if not ids and not cns:
        out.append(f"{where}: a device needs at least one identifier or connection")
    if not isinstance(dev.get("name"), str) or not dev.get("name"):
        out.append(f"{where}: the device has no name (Home Assistant >= 2023.8 needs it)")
    for key in DEVICE_KEYS - {"identifiers", "connections"}:
        if key in dev and not isinstance(dev[key], str):
            out.append(f"{where}: device '{key}' must be a string")
    if "configuration_url" in dev and not _url_ok(dev["configuration_url"], ("http", "https", "homeassistant")):
        out.append(f"{where}: device configuration_url '{dev['configuration_url']}' is not a valid URL")


def _connection_ok(c):
    if not (isinstance(c, list) and len(c) == 2 and all(isinstance(x, str) for x in c)):
        return False
    if c[0] not in CONNECTION_TYPES:
        return False
    return c[0] not in ("mac", "bluetooth") or bool(MAC.match(c[1]))


def _url_ok(url, schemes):
    m = re.fullmatch(r"([a-z][a-z0-9+.-]*)://([^\s/]+)(/\S*)?", url) if isinstance(url, str) else None
    return bool(m) and m.group(1) in schemes


def _check_origin(where, origin, out):
    """schemas.py MQTT_ORIGIN_INFO_SCHEMA; discovery.py drops a message whose origin fails it. Required: bandgate."""
    if origin is None:
        out.append(f"{where}: no origin ('o')")
        return
    if not isinstance(origin, dict):
        out.append(f"{where}: 'o' is not an object")
        return
    for key in sorted(set(origin) - ORIGIN_KEYS):
        out.append(f"{where}: origin key '{key}' is unknown (the message is dropped)")
    if not isinstance(origin.get("name"), str) or not origin["name"]:
        out.append(f"{where}: the origin needs a name")
    if "sw_version" in origin and not isinstance(origin["sw_version"], str):
        out.append(f"{where}: origin sw_version must be a string")
    if "support_url" in origin and not _url_ok(origin["support_url"], ("http", "https")):
        out.append(f"{where}: origin support_url is not a valid URL")


def _check_entity(where, platform, discovery_id, config, out, entities):
    if platform not in PLATFORM_KEYS:
        out.append(f"{where}: platform '{platform}' is outside what this validator knows")
        return
    allowed = COMMON_KEYS | PLATFORM_KEYS[platform]
    for key in sorted(set(config) - allowed - {"~"}):
        out.append(f"{where}: '{key}' is not a {platform} option (Home Assistant drops it without a word)")
    for key in sorted(REQUIRED_KEYS[platform] - set(config)):
        out.append(f"{where}: {platform} requires '{key}'")
    _check_ids(where, platform, config, out)
    _check_topics(where, config, out)
    _check_common_values(where, platform, config, out)
    if platform == "sensor":
        _check_sensor(where, config, out)
    if platform == "event":
        types = config.get("event_types")
        if not (isinstance(types, list) and types and all(isinstance(t, str) and t for t in types)):
            out.append(f"{where}: event_types must be a non-empty list of strings")
    entities.append(_Entity(where, platform, discovery_id, config))


def _check_ids(where, platform, config, out):
    """schemas.py check_unique_id; entity.py: object_id is deprecated (2025.10, gone in 2026.4) for
    default_entity_id, a whole entity id of the entity's own domain."""
    if not isinstance(config.get("unique_id"), str) or not config.get("unique_id"):
        out.append(f"{where}: no unique_id (the entity could not be edited, and a device config refuses it)")
    if "object_id" in config:
        out.append(f"{where}: 'object_id' is deprecated: use 'default_entity_id'")
    entity_id = config.get("default_entity_id")
    if entity_id is None:
        out.append(f"{where}: no default_entity_id")
    elif not isinstance(entity_id, str) or not ENTITY_ID.match(entity_id):
        out.append(f"{where}: default_entity_id '{entity_id}' is not a valid entity id")
    elif entity_id.split(".")[0] != platform:
        out.append(f"{where}: default_entity_id '{entity_id}' is not in the {platform} domain")


def _check_topic_chars(where, topic, key, out):
    """mqtt/util.py valid_topic, valid_publish_topic; wildcards are refused everywhere (bandgate's rule)."""
    if not isinstance(topic, str) or not topic:
        out.append(f"{where}: {key} is empty or not a string")
        return
    if len(topic.encode("utf-8")) > 65535:
        out.append(f"{where}: {key} is longer than 65535 bytes")
    if any(c in topic for c in "+#"):
        out.append(f"{where}: {key} '{topic}' contains a wildcard")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or c in "\ufffe\uffff" for c in topic):
        out.append(f"{where}: {key} '{topic!r}' contains a control character")
    if "~" in topic:
        out.append(f"{where}: {key} '{topic}' still holds a '~' (no topic base given)")


def _check_topics(where, config, out):
    for key, value in config.items():
        if key.endswith("_topic"):
            _check_topic_chars(where, value, key, out)
    avty = config.get("availability")
    if avty is None:
        return
    if not isinstance(avty, list) or not avty:
        out.append(f"{where}: availability must be a non-empty list")
        return
    for entry in avty:
        if not isinstance(entry, dict) or "topic" not in entry:
            out.append(f"{where}: every availability entry needs a topic ('t')")
            continue
        for key in sorted(set(entry) - AVAILABILITY_ENTRY_KEYS):
            out.append(f"{where}: availability entry key '{key}' is unknown")
        _check_topic_chars(where, entry["topic"], "availability topic", out)


def _check_common_values(where, platform, config, out):
    if "availability" in config and "availability_topic" in config:
        out.append(f"{where}: 'avty' and 'avty_t' exclude each other")
    if config.get("availability_mode", "latest") not in AVAILABILITY_MODES:
        out.append(f"{where}: availability_mode '{config['availability_mode']}' is not all, any or latest")
    if config.get("qos", 0) not in (0, 1, 2):
        out.append(f"{where}: qos must be 0, 1 or 2")
    if not isinstance(config.get("enabled_by_default", True), bool):
        out.append(f"{where}: enabled_by_default must be a boolean")
    category = config.get("entity_category")
    if category is not None and category not in ENTITY_CATEGORIES:
        out.append(f"{where}: entity_category '{category}' is not config or diagnostic")
    if category == "config" and platform in NO_CONFIG_CATEGORY:
        out.append(f"{where}: a {platform} cannot have entity_category config (Home Assistant refuses to add it)")
    if "icon" in config and (not isinstance(config["icon"], str) or ":" not in config["icon"]):
        out.append(f"{where}: icon '{config['icon']}' is not 'prefix:name'")
    device_class = config.get("device_class")
    if device_class is not None and device_class not in DEVICE_CLASSES[platform]:
        out.append(f"{where}: device_class '{device_class}' is not a {platform} device class")
    for key in ("value_template", "command_template"):
        if key in config:
            _check_template_syntax(where, key, config[key], out)


def _check_sensor(where, config, out):
    """mqtt/sensor.py validate_sensor_state_and_device_class_config; sensor/__init__.py's checks on a state."""
    device_class = config.get("device_class")
    state_class = config.get("state_class")
    unit = config.get("unit_of_measurement")
    if state_class is not None and state_class not in ALL_STATE_CLASSES:
        out.append(f"{where}: state_class '{state_class}' is unknown")
    if device_class in SENSOR_STATE_CLASSES and state_class and state_class not in SENSOR_STATE_CLASSES[device_class]:
        out.append(f"{where}: state_class '{state_class}' is impossible for device class '{device_class}'")
    if device_class in SENSOR_UNITS and unit not in SENSOR_UNITS[device_class]:
        out.append(f"{where}: unit '{unit}' is not valid for device class '{device_class}'")
    if device_class in NON_NUMERIC_SENSOR_CLASSES and unit:
        out.append(f"{where}: device class '{device_class}' is not numeric and takes no unit")
    if state_class == "measurement_angle" and unit != "°":
        out.append(f"{where}: state class measurement_angle needs the unit °")
    if "last_reset_value_template" in config and state_class != "total":
        out.append(f"{where}: last_reset_value_template needs state class total")
    if "options" in config and (device_class != "enum" or state_class or unit or not config["options"]):
        out.append(f"{where}: options need device class enum, no state class, no unit, and at least one")


_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
_ENV.filters["is_defined"] = lambda v: v  # Home Assistant's filter; StrictUndefined already raises


def _check_template_syntax(where, key, text, out):
    try:
        _ENV.from_string(text)
    except jinja2.TemplateSyntaxError as exc:
        out.append(f"{where}: {key} does not parse: {exc}")


def _render(config, payload):
    """What the entity's value template makes of a payload (models.py MqttValueTemplate
    async_render_with_possible_json_value): value is the payload, value_json its JSON if it parses."""
    text = config.get("value_template")
    if text is None:
        return payload
    variables = {"value": payload}
    try:
        variables["value_json"] = json.loads(payload)
    except ValueError:
        pass
    return _ENV.from_string(text).render(**variables)


def _check_state(e, states, out):
    topic = e.get("state_topic")
    if e.platform not in ("sensor", "binary_sensor", "event") or not isinstance(topic, str):
        return
    if topic not in states:
        if e.platform != "event":  # an event is not retained: there may be none to look at
            out.append(f"{e.where}: no state on '{topic}' to check its template against")
        return
    try:
        value = _render(e.config, states[topic])
    except jinja2.TemplateError as exc:
        out.append(f"{e.where}: value template fails on '{topic}': {exc}")
        return
    except Exception as exc:  # noqa: BLE001 - a template can raise anything; Home Assistant logs it and goes on
        out.append(f"{e.where}: value template raises on '{topic}': {exc!r}")
        return
    problem = {"sensor": _sensor_value, "binary_sensor": _binary_value, "event": _event_value}[e.platform](e, value)
    if problem:
        out.append(f"{e.where}: {problem}")


def _numeric_expected(config):
    """sensor/__init__.py: a sensor is numeric unless its class is date, enum or timestamp, when it has a device
    class, a state class, a unit or a display precision."""
    device_class = config.get("device_class")
    if device_class in NON_NUMERIC_SENSOR_CLASSES:
        return False
    return any(config.get(k) is not None for k in ("device_class", "state_class", "unit_of_measurement",
                                                    "suggested_display_precision"))


def _sensor_value(e, value):
    device_class = e.get("device_class")
    if value == PAYLOAD_NONE:
        return None
    if value == "":
        return "the template renders nothing: the state is never updated"
    if _numeric_expected(e.config):
        try:
            number = float(value)
        except ValueError:
            return f"renders '{value}' but the sensor is numeric"
        return None if math.isfinite(number) else f"renders '{value}', not a finite number"
    if device_class == "timestamp":
        return _timestamp_problem(value)
    if device_class == "date" and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return f"renders '{value}', not a date"
    if device_class == "enum" and value not in (e.get("options") or []):
        return f"renders '{value}', not one of its options"
    if len(value) > MAX_STATE_LENGTH:
        return f"renders {len(value)} characters, more than a state may hold ({MAX_STATE_LENGTH})"
    return None


def _timestamp_problem(value):
    try:
        when = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return f"renders '{value}', not an ISO 8601 timestamp"
    if when.tzinfo is None:
        return f"renders '{value}', a timestamp without a time zone (Home Assistant refuses it)"
    return None


def _binary_value(e, value):
    on, off = e.get("payload_on", "ON"), e.get("payload_off", "OFF")
    if value not in (on, off):
        return f"renders '{value}', neither payload_on '{on}' nor payload_off '{off}'"
    return None


def _event_value(e, value):
    try:
        event = json.loads(value)
    except ValueError:
        return f"event payload '{value}' is not JSON"
    if not isinstance(event, dict) or "event_type" not in event:
        return "event payload has no event_type"
    if event["event_type"] not in e.get("event_types", []):
        return f"event_type '{event['event_type']}' is not one of event_types"
    return None


def _check_unique(entities, out):
    """Home Assistant keys a discovered entity by (platform, discovery id), the entity registry by unique_id per
    platform, and states by entity id: a repeat of any makes one entity vanish or fight the other."""
    for label, key in (("discovery id", lambda e: (e.platform, e.discovery_id)),
                       ("unique_id", lambda e: e.get("unique_id")),
                       ("default_entity_id", lambda e: e.get("default_entity_id"))):
        seen = {}
        for e in entities:
            k = key(e)
            if k is None:
                continue
            if k in seen:
                out.append(f"{e.where}: {label} {k} repeats {seen[k]}")
            else:
                seen[k] = e.where


def _identifiers(dev):
    ids = dev.get("identifiers", []) if isinstance(dev, dict) else []
    return set(ids if isinstance(ids, list) else [ids])


def _check_devices(entities, out):
    """bandgate's shape: one gateway device without via_device, every other device via the gateway; the same
    identifiers always carry the same device info (per-component configs repeat it)."""
    by_ids = {}
    for e in entities:
        dev = e.get("device")
        if not isinstance(dev, dict):
            continue
        key = tuple(sorted(_identifiers(dev)))
        if key in by_ids and by_ids[key] != dev:
            out.append(f"{e.where}: device {list(key)} differs from the same device in another config")
        by_ids.setdefault(key, dev)
    gateways = {k: d for k, d in by_ids.items() if "via_device" not in d}
    if len(gateways) > 1:
        out.append(f"devices {sorted(gateways)}: more than one device without via_device (one gateway expected)")
    gateway_ids = set().union(*(set(k) for k in gateways)) if gateways else set()
    for key, dev in by_ids.items():
        via = dev.get("via_device")
        if via is not None and gateways and via not in gateway_ids:
            out.append(f"device {list(key)}: via_device '{via}' is not the gateway's identifier")
        if via is not None and via in key:
            out.append(f"device {list(key)}: via_device names the device itself")


def _availability_topics(e):
    avty = e.get("availability")
    if not isinstance(avty, list):
        return None
    return [a.get("topic") for a in avty if isinstance(a, dict)]


def _check_availability(entities, out):
    """bandgate's rule on top of schemas.py: every entity follows the gateway's status first, a band's entities
    also their band's availability, with availability_mode all; only an entity that shows the gateway's status
    itself may follow none."""
    gateway_status = _gateway_status(entities)
    for e in entities:
        topics = _availability_topics(e)
        if topics is None:
            if e.get("availability_topic") is not None:
                out.append(f"{e.where}: availability as a single 'avty_t'; bandgate uses the 'avty' list")
            elif gateway_status is None or e.get("state_topic") != gateway_status:
                out.append(f"{e.where}: no availability list ('avty')")
            continue
        if len(topics) > 1 and e.get("availability_mode") != "all":
            out.append(f"{e.where}: {len(topics)} availability topics need availability_mode all")
        if gateway_status is not None and topics[:1] != [gateway_status]:
            out.append(f"{e.where}: availability does not start with the gateway status '{gateway_status}'")
        if len(set(topics)) != len(topics) or len(topics) > 2:
            out.append(f"{e.where}: availability should be [gateway status] or [gateway status, band availability]")
        if any(t and not (t.endswith("/status") or t.endswith("/availability")) for t in topics):
            out.append(f"{e.where}: an availability topic is neither .../status nor .../availability")
        via = isinstance(e.get("device"), dict) and "via_device" in e.get("device")
        if not via and len(topics) != 1:
            out.append(f"{e.where}: a gateway entity follows the gateway status only")


def _gateway_status(entities):
    """The topic most availability lists start with (one broken entity must not hide which one is meant)."""
    firsts = collections.Counter(t[0] for t in map(_availability_topics, entities) if t)
    ranked = firsts.most_common(2)
    if not ranked or (len(ranked) == 2 and ranked[0][1] == ranked[1][1]):
        return None
    return ranked[0][0]
