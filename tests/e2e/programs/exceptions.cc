// exceptions.cc -- C++ exceptions thrown and caught across instrumented frames.
//
// Exceptions are thrown several frames below their handlers (through frames holding
// std::string / std::vector / std::map locals and RAII guards whose destructors must run),
// rethrown, translated to other types, and thrown out of deep recursion.  A handler is
// registered in IR mode (argv[1] instructions, default 500).
//
// stdout: results only (identical with and without probes).
// stderr: "stat handler_calls=N rt_calls=N instr=N".
#include <ci_lib.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

static long handler_calls;
static void on_interrupt(long) { ++handler_calls; }

static long live_guards, destroyed_guards;

struct Guard {
    std::string name;
    std::vector<int> payload;
    Guard(std::string n, int k) : name(std::move(n)), payload(static_cast<size_t>(k), k) {
        ++live_guards;
    }
    ~Guard() {
        --live_guards;
        ++destroyed_guards;
    }
    Guard(const Guard &) = delete;
    Guard &operator=(const Guard &) = delete;
};

struct ParseError : std::runtime_error {
    int level;
    ParseError(const std::string &what, int lvl) : std::runtime_error(what), level(lvl) {}
};

struct Fatal {
    int code;
};

__attribute__((noinline)) static int level3(int x, std::map<std::string, int> &m) {
    Guard g("level3", x % 7 + 1);
    std::string key = "k" + std::to_string(x % 13);
    m[key] += x;
    if (x % 5 == 0)
        throw ParseError("bad " + key, 3);
    if (x % 11 == 0)
        throw std::out_of_range("range " + std::to_string(x));
    if (x % 97 == 0)
        throw Fatal{x};
    return static_cast<int>(g.payload.size()) + m[key] % 17;
}

__attribute__((noinline)) static int level2(int x, std::map<std::string, int> &m) {
    Guard g("level2", 3);
    std::vector<std::string> parts;
    for (int i = 0; i < x % 4 + 1; ++i)
        parts.push_back(std::string(static_cast<size_t>(i + 1), static_cast<char>('a' + i)));
    try {
        return level3(x, m) + static_cast<int>(parts.size());
    } catch (const std::out_of_range &e) {
        // translate, with the guard and the vector still alive
        throw ParseError(std::string("translated ") + e.what(), 2);
    }
}

__attribute__((noinline)) static int level1(int x, std::map<std::string, int> &m) {
    Guard g("level1", 2);
    auto owned = std::make_unique<std::vector<long>>(static_cast<size_t>(x % 9 + 1), x);
    try {
        return level2(x, m) + static_cast<int>(owned->size());
    } catch (ParseError &e) {
        if (e.level == 2 && x % 3 == 0)
            throw; // rethrow the same object further up
        return -e.level;
    }
}

// Deep recursion that throws from the bottom; every frame owns a Guard and a string.
__attribute__((noinline)) static long deep(int depth, int limit, std::string &trail) {
    Guard g("deep", depth % 5 + 1);
    std::string mine = std::to_string(depth);
    if (depth == limit)
        throw std::runtime_error("bottom at " + mine);
    long r = deep(depth + 1, limit, trail) + static_cast<long>(mine.size());
    trail += mine; // never reached
    return r;
}

int main(int argc, char **argv) {
    int interval = argc > 1 ? std::atoi(argv[1]) : 500;
    register_ci(interval, 0, on_interrupt);

    std::map<std::string, int> table;
    long sum = 0, parse_errors = 0, rethrown = 0, fatals = 0;
    for (int x = 1; x <= 3000; ++x) {
        try {
            sum += level1(x, table);
        } catch (const ParseError &e) {
            ++rethrown;
            sum += static_cast<long>(std::string(e.what()).size());
        } catch (const Fatal &f) {
            ++fatals;
            sum += f.code;
        }
        if (x % 5 == 0)
            ++parse_errors;
    }

    long bottoms = 0;
    for (int rep = 0; rep < 200; ++rep) {
        std::string trail;
        try {
            deep(0, 40 + rep % 23, trail);
        } catch (const std::runtime_error &e) {
            bottoms += static_cast<long>(std::string(e.what()).size()) + static_cast<long>(trail.size());
        }
    }

    long keys = 0;
    for (const auto &kv : table)
        keys += kv.second % 1000 + static_cast<long>(kv.first.size());

    std::printf("sum=%ld rethrown=%ld fatals=%ld multiples_of_5=%ld bottoms=%ld keys=%ld "
                "table_size=%zu\n",
                sum, rethrown, fatals, parse_errors, bottoms, keys, table.size());
    std::printf("guards live=%ld destroyed=%ld\n", live_guards, destroyed_guards);
    long instr = ci_instruction_count();
    deregister_ci(); // no handler call between the two counts below
    std::fprintf(stderr, "stat handler_calls=%ld rt_calls=%ld instr=%ld\n", handler_calls,
                 ci_handler_calls(), instr);
    return live_guards == 0 ? 0 : 3;
}
