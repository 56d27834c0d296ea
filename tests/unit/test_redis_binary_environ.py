"""Redis binaries start without libfaketime (jemalloc cannot run under it); everything else is kept."""

from local_runtime.processes import redis_binary_environ

FAKETIME_LIB = "/usr/$LIB/faketime/libfaketime.so.1"


def test_libfaketime_and_its_settings_are_dropped() -> None:
    environ = {
        "LD_PRELOAD": FAKETIME_LIB,
        "FAKETIME": "+45d",
        "FAKETIME_SHARED": "/faketime_sem_1 /faketime_shm_1",
        "PATH": "/usr/bin",
    }
    assert redis_binary_environ(environ) == {"PATH": "/usr/bin"}


def test_other_preloaded_libraries_stay() -> None:
    environ = {"LD_PRELOAD": f"/opt/a.so:{FAKETIME_LIB} /opt/b.so"}
    assert redis_binary_environ(environ) == {"LD_PRELOAD": "/opt/a.so /opt/b.so"}


def test_an_environment_without_faketime_is_unchanged() -> None:
    environ = {"LD_PRELOAD": "/opt/a.so", "REDIS_URL": "redis://127.0.0.1:1/0"}
    assert redis_binary_environ(environ) == environ
