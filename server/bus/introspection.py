"""Introspection data, read from the contract in ``sipprofile.proto``.

The daemon answers ``Introspect`` with the interfaces as ``proto/*.xml`` define them
and checks call signatures against the same parse, so the documented contract and
the served one are one text. Child nodes are listed per path so ``busctl tree``
walks the whole object tree even though no profile has an object of its own.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Final

from sipprofile.proto.names import PROFILE_INTERFACE, REGISTRY_INTERFACE

DOCTYPE: Final = (
    '<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"\n'
    ' "http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">\n'
)

STANDARD_INTERFACES: Final = """\
  <interface name="org.freedesktop.DBus.Peer">
    <method name="Ping"/>
    <method name="GetMachineId"><arg name="machine_uuid" type="s" direction="out"/></method>
  </interface>
  <interface name="org.freedesktop.DBus.Introspectable">
    <method name="Introspect"><arg name="xml_data" type="s" direction="out"/></method>
  </interface>
  <interface name="org.freedesktop.DBus.Properties">
    <method name="Get">
      <arg name="interface_name" type="s" direction="in"/>
      <arg name="property_name" type="s" direction="in"/>
      <arg name="value" type="v" direction="out"/>
    </method>
    <method name="GetAll">
      <arg name="interface_name" type="s" direction="in"/>
      <arg name="props" type="a{sv}" direction="out"/>
    </method>
    <method name="Set">
      <arg name="interface_name" type="s" direction="in"/>
      <arg name="property_name" type="s" direction="in"/>
      <arg name="value" type="v" direction="in"/>
    </method>
    <signal name="PropertiesChanged">
      <arg name="interface_name" type="s"/>
      <arg name="changed_properties" type="a{sv}"/>
      <arg name="invalidated_properties" type="as"/>
    </signal>
  </interface>
"""

OBJECT_MANAGER: Final = """\
  <interface name="org.freedesktop.DBus.ObjectManager">
    <method name="GetManagedObjects">
      <arg name="object_paths_interfaces_and_properties" type="a{oa{sa{sv}}}" direction="out"/>
    </method>
    <signal name="InterfacesAdded">
      <arg name="object_path" type="o"/>
      <arg name="interfaces_and_properties" type="a{sa{sv}}"/>
    </signal>
    <signal name="InterfacesRemoved">
      <arg name="object_path" type="o"/>
      <arg name="interfaces" type="as"/>
    </signal>
  </interface>
"""

#: Interfaces every object carries besides its own, as sd-bus lists them.
STANDARD_INTERFACE_NAMES: Final = (
    "org.freedesktop.DBus.Peer",
    "org.freedesktop.DBus.Introspectable",
    "org.freedesktop.DBus.Properties",
)


@dataclass(frozen=True, slots=True)
class InterfaceSpec:
    """One interface of the contract: member signatures and the XML to serve."""

    name: str
    methods: dict[str, tuple[str, str]]  # name -> (in signature, out signature)
    signals: dict[str, str]
    properties: dict[str, tuple[str, str]]  # name -> (signature, access)
    xml: str


def _signature(element: ET.Element, direction: str | None) -> str:
    return "".join(
        arg.get("type", "")
        for arg in element.findall("arg")
        if direction is None or arg.get("direction", "in") == direction
    )


def parse_interface(xml_text: str, name: str) -> InterfaceSpec:
    """Parse interface ``name`` out of an introspection document."""
    root = ET.fromstring(xml_text)
    element = next(i for i in root.findall("interface") if i.get("name") == name)
    methods = {
        m.get("name", ""): (_signature(m, "in"), _signature(m, "out"))
        for m in element.findall("method")
    }
    signals = {s.get("name", ""): _signature(s, None) for s in element.findall("signal")}
    properties = {
        p.get("name", ""): (p.get("type", ""), p.get("access", "read"))
        for p in element.findall("property")
    }
    ET.indent(element, space="  ", level=1)
    text = "  " + ET.tostring(element, encoding="unicode").rstrip() + "\n"
    return InterfaceSpec(name, methods, signals, properties, text)


@cache
def contract(name: str) -> InterfaceSpec:
    """The parsed interface ``name`` from its ``proto/<name>.xml`` file."""
    text = files("sipprofile.proto").joinpath(f"{name}.xml").read_text(encoding="utf-8")
    return parse_interface(text, name)


def registry_spec() -> InterfaceSpec:
    """org.sipprofile.SipProfile1.Registry."""
    return contract(REGISTRY_INTERFACE)


def profile_spec() -> InterfaceSpec:
    """org.sipprofile.SipProfile1.Profile."""
    return contract(PROFILE_INTERFACE)


def node_xml(interfaces: str = "", children: list[str] | None = None) -> str:
    """A whole introspection document for one path."""
    nodes = "".join(f'  <node name="{child}"/>\n' for child in children or [])
    return f"{DOCTYPE}<node>\n{interfaces}{nodes}</node>\n"


def registry_node(children: list[str]) -> str:
    """The registry object: Registry, ObjectManager and the standard interfaces."""
    return node_xml(registry_spec().xml + OBJECT_MANAGER + STANDARD_INTERFACES, children)


def profile_node() -> str:
    """A profile object: Profile and the standard interfaces."""
    return node_xml(profile_spec().xml + STANDARD_INTERFACES)
