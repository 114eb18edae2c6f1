# cmake -DHELP2MAN=... -DGZIP=... -DPROGRAM=<exe> -DNAME=<name> -DDESCRIPTION=<one line>
#       -DVERSION=<x.y.z> -DINCLUDE=<static .h2m> -DOUTPUT=<page.1.gz> -P make_man.cmake
# A man page from the program's own --help (help2man), so it can never drift from the options.
# A program with subcommands (quantscope-cli) also gets a COMMANDS section holding each
# subcommand's --help, verbatim. The page is gzipped with -9n (no timestamp: reproducible).
foreach(v HELP2MAN GZIP PROGRAM NAME DESCRIPTION VERSION INCLUDE OUTPUT)
    if(NOT DEFINED ${v})
        message(FATAL_ERROR "make_man.cmake: ${v} is not set")
    endif()
endforeach()

execute_process(COMMAND ${PROGRAM} --help OUTPUT_VARIABLE help RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${PROGRAM} --help failed (${rc})")
endif()

# roff-escape one line of --help text for a no-fill block.
function(qs_roff_line line out)
    string(REPLACE "\\" "\\e" line "${line}")
    string(REPLACE "-" "\\-" line "${line}")
    if(line MATCHES "^[.']")
        set(line "\\&${line}")
    endif()
    set(${out} "${line}" PARENT_SCOPE)
endfunction()

get_filename_component(dir ${OUTPUT} DIRECTORY)
file(MAKE_DIRECTORY ${dir})
set(generated ${dir}/${NAME}.commands.h2m)
set(commands "")
# CLI11 lists subcommands under "Subcommands:", one per line: "  name   description".
if(help MATCHES "\nSubcommands:\n(.*)")
    string(REGEX REPLACE "\n\n.*" "" block "${CMAKE_MATCH_1}")
    string(REPLACE "\n" ";" lines "${block}")
    foreach(l IN LISTS lines)
        if(l MATCHES "^  ([a-z][a-z0-9-]*) ")
            set(sub ${CMAKE_MATCH_1})
            execute_process(COMMAND ${PROGRAM} ${sub} --help OUTPUT_VARIABLE subhelp
                            RESULT_VARIABLE rc)
            if(NOT rc EQUAL 0)
                message(FATAL_ERROR "${PROGRAM} ${sub} --help failed (${rc})")
            endif()
            string(STRIP "${subhelp}" subhelp)
            string(REPLACE ";" "\\;" subhelp "${subhelp}")
            string(REPLACE "\n" ";" sublines "${subhelp}")
            string(APPEND commands ".SS \"${NAME} ${sub}\"\n.nf\n")
            foreach(sl IN LISTS sublines)
                qs_roff_line("${sl}" sl)
                string(APPEND commands "${sl}\n")
            endforeach()
            string(APPEND commands ".fi\n")
        endif()
    endforeach()
endif()
set(includes --include=${INCLUDE})
if(commands)
    file(WRITE ${generated} "[COMMANDS]\nEach command's own \\fB\\-\\-help\\fR:\n${commands}")
    list(APPEND includes --include=${generated})
endif()

string(REGEX REPLACE "\\.gz$" "" page ${OUTPUT})
execute_process(
    COMMAND ${HELP2MAN} --no-info --no-discard-stderr --version-string=${VERSION}
            --name=${DESCRIPTION} --section=1 --source=Quantscope --manual=Quantscope
            ${includes} --output=${page} ${PROGRAM}
    RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "help2man ${PROGRAM} failed (${rc})")
endif()
execute_process(COMMAND ${GZIP} -9nf ${page} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "gzip ${page} failed (${rc})")
endif()
