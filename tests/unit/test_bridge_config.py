"""Parsing ``-p``, checking ``--subnet`` and the nftables table: no privilege, no container."""

from __future__ import annotations

import pytest

from minicontainer.config import Config, ConfigError
from minicontainer.network import PortMapping, check_subnet, ruleset


@pytest.mark.parametrize(("spec", "expected"), [
    ("8080:80", (None, 8080, 80, "tcp")),
    ("127.0.0.1:8080:80/udp", ("127.0.0.1", 8080, 80, "udp")),
    ("1:65535", (None, 1, 65535, "tcp")),
])
def test_good_port_specs(spec, expected):
    assert PortMapping.parse(spec).to_list() == list(expected)


@pytest.mark.parametrize(("spec", "reason"), [
    ("٨٠:80", "port '٨٠' is not a number (digits 0-9)"),  # int() would take it
    ("80:²", "port '²' is not a number"),
    ("8_0:80", "port '8_0' is not a number"),
    (" 80:80", "port ' 80' is not a number"),
    ("0.0.0.0:", "has an empty container port"),
    (":80", "has an empty host port"),
    ("127.0.0.1::80", "has an empty host port"),
    ("0:80", "port '0' is not from 1 to 65535"),
    ("80:65536", "port '65536' is not from 1 to 65535"),
    ("80", "is not [HOSTADDR:]HOSTPORT:CTRPORT"),
    ("١.2.3.4:80:80", "is not an IPv4 address"),
    ("80:80/sctp", "the protocol must be tcp or udp"),
])
def test_bad_port_specs_say_why(spec, reason):
    with pytest.raises(ValueError) as raised:
        PortMapping.parse(spec)
    assert reason in str(raised.value)


def test_a_host_port_published_twice_is_refused():
    cfg = Config(args=["true"], network="bridge",
                 ports=[PortMapping.parse("8080:80"), PortMapping.parse("8080:81")])
    with pytest.raises(ConfigError) as raised:
        cfg._check_network()
    assert str(raised.value) == \
        "publish: 8080:81/tcp uses host port 8080/tcp again (after 8080:80/tcp)"


def test_the_same_port_number_for_tcp_and_udp_is_two_ports():
    cfg = Config(args=["true"], network="bridge",
                 ports=[PortMapping.parse("8080:80"), PortMapping.parse("8080:80/udp")])
    cfg._check_network()


@pytest.mark.parametrize("subnet", ["8.8.0.0/16", "10.88.0.0/25", "10.88.0.0/١٦"])
def test_bad_subnets(subnet):
    with pytest.raises(ValueError):
        check_subnet(subnet)


def test_the_table_lets_into_mc0_only_replies_and_published_ports():
    leases = {"10.88.0.2": {"ports": [[None, 8080, 80, "tcp"]]}}
    rules = [line.strip() for line in ruleset(leases, "10.88.0.0/16").splitlines()]
    forward = rules[rules.index("chain forward {"):]
    assert forward[2:6] == ['iifname "mc0" accept',
                            'oifname "mc0" ct state established,related accept',
                            'oifname "mc0" ct status dnat accept',
                            'oifname "mc0" drop']
    assert 'iifname "mc0" ip daddr 127.0.0.0/8 drop' in rules
    assert "fib daddr type local tcp dport 8080 dnat to 10.88.0.2:80" in rules


def test_without_leases_the_table_is_deleted():
    assert ruleset({}, "10.88.0.0/16") == \
        "table ip minicontainer\ndelete table ip minicontainer\n"
