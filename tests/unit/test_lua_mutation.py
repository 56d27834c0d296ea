"""The Lua mutation runner's mutants (tools/lua_mutation.py): which changes it makes, and what it leaves alone."""

from __future__ import annotations

from tools.lua_mutation import LuaMutant, mutants, tokens


def changes(source: str) -> list[str]:
    return [m.apply(source) for m in mutants("x.lua", source)]


def test_comparisons_flip_at_the_boundary_and_to_their_negation() -> None:
    assert changes("if a > b then end") == ["if a >= b then end", "if a <= b then end"]
    assert changes("if a ~= b then end") == ["if a == b then end"]


def test_binary_plus_and_minus_swap_but_a_negative_number_is_a_constant() -> None:
    assert changes("x = a - b") == ["x = a + b"]
    assert changes("x = -1") == ["x = 0", "x = (-2)"]


def test_numbers_move_by_one() -> None:
    assert changes("x = t[10]") == ["x = t[11]", "x = t[9]"]
    assert changes("x = 0") == ["x = 1", "x = (-1)"]


def test_and_or_swap_and_not_is_removed() -> None:
    assert changes("if not a and b then end") == ["if a and b then end", "if not a or b then end"]


def test_a_redis_write_standing_as_a_statement_is_deleted() -> None:
    source = "if ok then redis.call('HDEL', key, field) end"
    assert changes(source) == ["if ok then do end end"]


def test_a_redis_call_whose_value_is_used_is_not_deleted() -> None:
    assert changes("local added = redis.call('ZADD', key, 'NX', 1, member)") == [
        "local added = redis.call('ZADD', key, 'NX', 2, member)",
        "local added = redis.call('ZADD', key, 'NX', 0, member)",
    ]


def test_comments_and_strings_are_never_mutated() -> None:
    source = "-- a > b + 1\n--[[ x == 1 ]]\nlocal s = 'a - 1' .. \"2 > 1\" .. [[3 < 4]]"
    assert changes(source) == []
    assert [t.kind for t in tokens(source)] == ["name", "name", "op", "string", "op", "string", "op", "string"]


def test_keys_name_the_line_not_its_number_and_tell_repeated_changes_apart() -> None:
    source = "x = 1\ny = a + b\ny = a + b\n"
    keys = [m.key for m in mutants("s.lua", source) if m.operator == "arithmetic"]
    assert keys == ["s.lua: y = a + b => y = a - b", "s.lua: y = a + b => y = a - b #2"]
    moved = [m.key for m in mutants("s.lua", "\n\n" + source) if m.operator == "arithmetic"]
    assert moved == keys


def test_a_mutant_replaces_exactly_its_span() -> None:
    mutant = LuaMutant("s.lua", "comparison", 5, 6, ">=", "key")
    assert mutant.apply("if a > b then end") == "if a >= b then end"
