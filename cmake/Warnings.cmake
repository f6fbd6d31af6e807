# Project-wide compile settings, applied through the interface target dpowb_settings.
add_library(dpowb_settings INTERFACE)
target_compile_options(dpowb_settings INTERFACE -Wall -Wextra -Wpedantic -Wno-unused-parameter)
if(DPOWB_WERROR)
  target_compile_options(dpowb_settings INTERFACE -Werror)
endif()
if(DPOWB_SANITIZE)
  target_compile_options(dpowb_settings INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer)
  target_link_options(dpowb_settings INTERFACE -fsanitize=address,undefined)
endif()
# Extra compile options of the test suites and the UI library (tests/, ui/): scripts/sanitize.sh
# gives -O0, which halves their compile time under ASan (docs/FUZZING.md).
set(DPOWB_TEST_COMPILE_OPTIONS "" CACHE STRING "Extra compile options of the test suites and the UI library")
# Qt's signals/slots/emit macros clash with LibTorch headers.
target_compile_definitions(dpowb_settings INTERFACE QT_NO_KEYWORDS)
