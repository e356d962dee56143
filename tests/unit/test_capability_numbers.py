"""Capability names and their bits in a mask, as /proc/PID/status shows them."""

import prctl
import pytest

from minicontainer import capabilities


def test_numbers_follow_linux_capability_h():
    assert capabilities.number("chown") == 0
    assert capabilities.number("CAP_SYS_ADMIN") == 21
    assert capabilities.number("Cap_Bpf") == 39
    assert capabilities.number("checkpoint_restore") == 40


def test_the_names_agree_with_python_prctl_where_it_knows_them():
    for bit, name in enumerate(capabilities.NAMES):
        assert getattr(prctl, name, bit) == bit, name


@pytest.mark.parametrize("name", ["all", "cap_nothing", "", "last_cap"])
def test_a_name_that_is_not_one_capability_is_refused(name):
    with pytest.raises(ValueError):
        capabilities.number(name)


def test_decode_reads_the_hexadecimal_of_proc_status():
    docker_defaults = {"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID",
                       "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP",
                       "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SYS_CHROOT", "CAP_MKNOD",
                       "CAP_AUDIT_WRITE", "CAP_SETFCAP"}
    assert capabilities.decode("00000000a80425fb") == docker_defaults
    assert capabilities.decode("0000000000000000") == set()
    assert capabilities.decode("000001ffffffffff") == set(capabilities.NAMES)
    assert capabilities.decode(1 << 21 | 1 << 40) == {"CAP_SYS_ADMIN", "CAP_CHECKPOINT_RESTORE"}


def test_decode_leaves_out_bits_past_the_last_known_capability():
    assert capabilities.decode(1 << 63 | 1) == {"CAP_CHOWN"}
