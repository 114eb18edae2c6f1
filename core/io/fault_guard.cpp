#include "io/fault_guard.h"

#include <atomic>
#include <csetjmp>
#include <csignal>
#include <cstring>
#include <mutex>

namespace qs::io {

namespace {

struct RecoveryPoint {
    sigjmp_buf env;
    const uint8_t* begin = nullptr;
    const uint8_t* end = nullptr;
    const uint8_t* volatile fault = nullptr;
};

// Plain pointer, constant-initialized: reading it in the handler touches no lazy TLS init.
// Volatile (and fenced below): the compiler must not drop the store before the memcpy as dead.
thread_local RecoveryPoint* volatile t_point = nullptr;

struct sigaction g_previous {};
std::once_flag g_installed;

void onSigbus(int sig, siginfo_t* info, void* context) {
    RecoveryPoint* p = t_point;
    const auto* addr = static_cast<const uint8_t*>(info ? info->si_addr : nullptr);
    if (p && addr >= p->begin && addr < p->end) {
        p->fault = addr;
        t_point = nullptr;
        siglongjmp(p->env, 1);
    }
    // Not a guarded read: behave as if we were not here.
    if (g_previous.sa_flags & SA_SIGINFO) {
        if (g_previous.sa_sigaction) {
            g_previous.sa_sigaction(sig, info, context);
            return;
        }
    } else if (g_previous.sa_handler == SIG_IGN) {
        return;
    } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != nullptr) {
        g_previous.sa_handler(sig);
        return;
    }
    // Default action: restore it; returning re-executes the faulting access, which then
    // terminates the process with SIGBUS as it would have without us.
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    ::sigaction(SIGBUS, &dfl, nullptr);
}

}  // namespace

void installFaultGuard() {
    std::call_once(g_installed, [] {
        struct sigaction sa {};
        sa.sa_sigaction = onSigbus;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        ::sigaction(SIGBUS, &sa, &g_previous);
    });
}

std::optional<uint64_t> guardedCopy(void* dst, const void* src, size_t n) {
    if (n == 0) return std::nullopt;
    installFaultGuard();
    RecoveryPoint point;
    point.begin = static_cast<const uint8_t*>(src);
    point.end = point.begin + n;
    if (sigsetjmp(point.env, 1) == 0) {
        t_point = &point;
        std::atomic_signal_fence(std::memory_order_seq_cst);
        std::memcpy(dst, src, n);
        std::atomic_signal_fence(std::memory_order_seq_cst);
        t_point = nullptr;
        return std::nullopt;
    }
    t_point = nullptr;
    return uint64_t(point.fault - point.begin);
}

}  // namespace qs::io
