#!/usr/bin/env python3
"""Writes the pickles that tests/test_pickle.c decodes.

Run from anywhere: python3 tests/data/pickle/make.py. The outputs are
committed; rerun only to change them. Pickles that Python can load are
checked against the value the test expects, with an unpickler that refuses
every global, so writing them never runs code either.
"""
import io
import os
import pickle
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


class NoGlobals(pickle.Unpickler):
    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"global {module}.{name} refused")


def safe_loads(data):
    return NoGlobals(io.BytesIO(data)).load()


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


def values(protocol):
    """The value behind types_p<N>.pickle; protocol 2 pickles bytes with
    REDUCE, so it has none."""
    shared = ["x"]
    v = {
        "none": None,
        "true": True,
        "false": False,
        "small": 7,
        "int1": 200,
        "int2": 60000,
        "int4": -123456,
        "int64": 2**62,
        "min64": -(2**63),
        "max64": 2**63 - 1,
        "big": 2**70,
        "nbig": -(2**70),
        "just_over": 2**63,
        "float": 1.5,
        "nfloat": -0.25,
        "str": "h\u00e9llo \u2713 \U0001d11e",
        "long_str": "abc" * 100,
        "empty_str": "",
        "list": [1, 2, 3],
        "empty_list": [],
        "tuple0": (),
        "tuple1": (1,),
        "tuple2": (1, 2),
        "tuple3": (1, 2, 3),
        "tuple4": (1, 2, 3, 4),
        "int_keys": {1: "one", 2: "two", -3: "minus three"},
        "empty_dict": {},
        "nested": {"a": [{"b": (1, [2, {"c": None}])}]},
        "shared": [shared, shared],
        "long_list": list(range(2500)),
        "big_dict": {f"k{i}": i for i in range(1500)},
    }
    if protocol >= 3:
        v["bytes"] = b"\x00\x01\xff"
        v["long_bytes"] = bytes(range(256)) * 2
        v["empty_bytes"] = b""
    return v


def types():
    for proto in (2, 3, 4, 5):
        data = pickle.dumps(values(proto), protocol=proto)
        assert safe_loads(data) == values(proto)
        write(f"types_p{proto}.pickle", data)


def small():
    """Small versions of the types pickles: fuzz seeds, and quick to cut at
    every byte."""
    for proto in (2, 3, 4, 5):
        v = values(proto)
        del v["long_list"], v["big_dict"], v["long_str"]
        v.pop("long_bytes", None)
        v["dict12"] = {f"k{i}": i for i in range(12)}  # past the linear-scan size
        data = pickle.dumps(v, protocol=proto)
        assert safe_loads(data) == v
        write(f"small_p{proto}.pickle", data)


def snapshot_like():
    """The shape of torch.cuda.memory._snapshot(): shared frame dicts."""
    frames = [{"filename": "train.py", "line": i, "name": "step"} for i in range(3)]
    v = {
        "segments": [{"device": 0, "address": 2**47, "total_size": 2097152,
                      "stream": 0, "segment_type": "small", "blocks": []}],
        "device_traces": [[
            {"action": "segment_alloc", "addr": 2**47, "size": 2097152, "stream": 0,
             "time_us": 1772688692031317, "frames": frames},
            {"action": "alloc", "addr": 2**47, "size": 512, "stream": 0,
             "time_us": 1772688692031318, "frames": frames[:2]},
            {"action": "free_requested", "addr": 2**47, "size": 512, "stream": 0,
             "time_us": 1772688692031319, "frames": [frames[0]]},
        ]],
        "allocator_settings": {"PYTORCH_CUDA_ALLOC_CONF": "", "max_split_size": -1,
                               "garbage_collection_threshold": 0.0,
                               "expandable_segments": False},
    }
    data = pickle.dumps(v, protocol=4)
    assert safe_loads(data) == v
    write("snapshot_like_p4.pickle", data)


def extras():
    v = {"set": {3}, "frozenset": frozenset({4}), "bytearray": bytearray(b"ab\x00")}
    data = pickle.dumps(v, protocol=5)
    assert safe_loads(data) == v
    write("extras_p5.pickle", data)


def u(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def handmade():
    """Opcodes Python's pickler never writes for these values, assembled by
    hand into one dict built by the DICT opcode."""
    body = [
        (u("dup"), b"K\x07" b"2" b"\x86"),  # DUP, TUPLE2 -> (7, 7)
        (u("pop"), b"]" b"K\x01" b"a" b"K\x09" b"0"),  # APPEND, POP -> [1]
        (u("popmark"), b"(" b"K\x05" b"K\x06" b"1" b"N"),  # POP_MARK -> None
        (u("list"), b"(" b"K\x01" b"K\x02" b"l"),
        (u("tuple"), b"(" b"K\x01" b"K\x02" b"K\x03" b"K\x04" b"t"),
        (u("dict"), b"(" b"U\x01a" b"K\x01" b"d"),  # SHORT_BINSTRING key
        (u("setitem"), b"}" + u("k") + b"K\x02" b"s"),
        (u("u8"), b"\x8d" + struct.pack("<Q", 3) + b"abc"),
        (u("b8"), b"\x8e" + struct.pack("<Q", 2) + b"\x01\x02"),
        (u("bytearray8"), b"\x96" + struct.pack("<Q", 3) + b"abc"),
        (u("long4"), b"\x8b" + struct.pack("<i", 9) + b"\x00" * 8 + b"\x01"),
        (u("long1"), b"\x8a\x02\xff\x7f"),
        (u("long1_neg1"), b"\x8a\x03\xff\xff\xff"),  # not the shortest form
        (u("long1_zero"), b"\x8a\x00"),
        (u("memo"), b"]" b"r\x05\x00\x00\x00"),  # LONG_BINPUT
        (u("memo_again"), b"j\x05\x00\x00\x00"),  # LONG_BINGET
        (u("int"), b"I42\n"),
        (u("bool"), b"I01\n"),
        (u("long"), b"L-5L\n"),
        (u("float"), b"F2.5\n"),
        (u("put"), b"I7\n" b"p9\n"),
        (u("get"), b"g9\n"),
        (u("binstring"), b"T\x02\x00\x00\x00hi"),
        (u("dupkeys"), b"}(" b"K\x01" + u("a") + b"\x88" + u("b")
         + b"G" + struct.pack(">d", 1.0) + u("c") + b"u"),
        (u("overwrite"), b"}(" + u("x") + b"K\x01" + u("y") + b"K\x02" + u("x") + b"K\x03u"),
        (u("empty_tuple"), b")"),
        (u("tuple1"), b"K\x01\x85"),
        (u("none"), b"N"),
        (u("true"), b"\x88"),
        (u("false"), b"\x89"),
        (u("binint"), b"J\xff\xff\xff\xff"),
        (u("binint2"), b"M\x34\x12"),
        (u("binfloat"), b"G" + struct.pack(">d", -1.5)),
        (u("binbytes"), b"B\x03\x00\x00\x00xyz"),
        (u("short_binbytes"), b"C\x01\x00"),
        (u("short_binunicode"), b"\x8c\x02\xc3\xa9"),
        (u("additems"), b"\x8f(" b"K\x01" b"K\x02" b"\x90"),
        (u("frozenset"), b"(" b"K\x03" b"\x91"),
        (u("memoize"), b"K\x0b" b"\x94"),
        (u("memo_get"), b"h\x02"),  # MEMOIZE uses the count of entries: 2
    ]
    data = b"\x80\x02(" + b"".join(k + v for k, v in body) + b"d."
    got = safe_loads(data)
    want = {
        "dup": (7, 7), "pop": [1], "popmark": None, "list": [1, 2], "tuple": (1, 2, 3, 4),
        "dict": {"a": 1}, "setitem": {"k": 2}, "u8": "abc", "b8": b"\x01\x02",
        "bytearray8": bytearray(b"abc"), "long4": 2**64, "long1": 32767, "long1_neg1": -1,
        "long1_zero": 0, "memo": [], "memo_again": [], "int": 42, "bool": True, "long": -5,
        "float": 2.5, "put": 7, "get": 7, "binstring": "hi", "dupkeys": {1: "c"},
        "overwrite": {"x": 3, "y": 2}, "empty_tuple": (), "tuple1": (1,), "none": None,
        "true": True, "false": False, "binint": -1, "binint2": 0x1234, "binfloat": -1.5,
        "binbytes": b"xyz", "short_binbytes": b"\x00", "short_binunicode": "\u00e9",
        "additems": {1, 2}, "frozenset": frozenset({3}), "memoize": 11, "memo_get": 11,
    }
    assert got == want, got
    assert list(got["overwrite"]) == ["x", "y"]
    assert got["memo"] is got["memo_again"]
    write("handmade.pickle", data)


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def hostile():
    """Pickles that would run code in Python. They are only written, never
    loaded."""
    write("evil_reduce_p2.pickle", pickle.dumps(Evil(), protocol=2))
    write("evil_reduce_p4.pickle", pickle.dumps(Evil(), protocol=4))
    write("evil_nested_p3.pickle", pickle.dumps({"ok": [1, 2], "evil": Evil()}, protocol=3))
    write("global_only.pickle", b"\x80\x02cos\nsystem\n.")
    lst = []
    lst.append(lst)
    write("recursive_p4.pickle", pickle.dumps(lst, protocol=4))


def foreign():
    write("not_a_pickle.csv", b"ts_ns,action,addr,size,stream,device\n1,alloc,16,512,0,0\n")
    write("protocol0.pickle", pickle.dumps([1, "a"], protocol=0))


if __name__ == "__main__":
    types()
    small()
    snapshot_like()
    extras()
    handmade()
    hostile()
    foreign()
