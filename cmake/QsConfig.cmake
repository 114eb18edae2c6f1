# qs_config: an INTERFACE target that carries the language level, the warning flags and the
# sanitizer flags for every target of our own (never for third-party code).
add_library(qs_config INTERFACE)
target_compile_features(qs_config INTERFACE cxx_std_20)
target_compile_options(qs_config INTERFACE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                                           -Wno-missing-field-initializers)
if(QS_WERROR)
    target_compile_options(qs_config INTERFACE -Werror)
endif()


if(QS_SANITIZE)
    string(REPLACE ";" "," _qs_san "${QS_SANITIZE}")
    message(STATUS "Quantscope: sanitizers ${_qs_san}")
    add_compile_options(-fsanitize=${_qs_san} -fno-omit-frame-pointer -fno-sanitize-recover=all)
    add_link_options(-fsanitize=${_qs_san})
    if("thread" IN_LIST QS_SANITIZE)
        # See core/parallel/parallel.cpp: TBB is not TSan-instrumented, plain threads are.
        add_compile_definitions(QS_PARALLEL_STD_THREADS)
    endif()
    # GCC 12's -Wmaybe-uninitialized gives false positives inside <regex> and <functional> once
    # sanitizer instrumentation changes inlining; the plain build keeps the warning.
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
        target_compile_options(qs_config INTERFACE -Wno-maybe-uninitialized)
    endif()
endif()
