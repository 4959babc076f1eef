/* dn_signal: the first SIGTERM asks the loop to stop; a second one exits at once (130). */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "dn_signal.h"

static int run_child(int signals)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dn_signal_install();
        if (dn_signal_stopping())
            _exit(3);
        for (int i = 0; i < signals; i++)
            raise(i % 2 ? SIGINT : SIGTERM);
        _exit(dn_signal_stopping() ? 0 : 4);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void test_first_signal_sets_the_flag(void **state)
{
    (void)state;
    assert_int_equal(run_child(1), 0);
}

static void test_second_signal_exits_at_once(void **state)
{
    (void)state;
    assert_int_equal(run_child(2), 130); /* SIGTERM then SIGINT */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_signal_sets_the_flag),
        cmocka_unit_test(test_second_signal_exits_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
