/* SPDX-License-Identifier: MIT */
/*
 * imgflow: the command line. main() only finds the verb in the table and
 * runs it; every verb lives in a cmd-*.c file (see cli.h for how to add one).
 */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cmd-remote.h"
#include "imgflow-config.h"

static const Verb verbs[] = {
        {
                .name = "validate-state-machine-definition",
                .run = verb_validate_definition,
                .summary = "check an Amazon States Language definition",
                .help = "imgflow validate-state-machine-definition [--type STANDARD|EXPRESS] FILE\n"
                        "imgflow validate-state-machine-definition --definition JSON|file://FILE [--type "
                        "T]\n"
                        "\n"
                        "Validates the state machine definition in FILE. Prints OK and exits 0,\n"
                        "or prints one error per line as `<JSON pointer>: <message>` and exits 1.\n"
                        "Warnings (a variable that is possibly not defined) come first, one per line\n"
                        "as `warning: <JSON pointer>: <message>`; they do not make it fail.\n"
                        "Exits 2 when FILE cannot be read.\n"
                        "With the AWS CLI's --definition it prints ValidateStateMachineDefinition's\n"
                        "answer, {\"result\": \"OK\"|\"FAIL\", \"diagnostics\": [{\"severity\", \"code\",\n"
                        "\"message\", \"location\"}], \"truncated\"}, and exits 0 either way.\n"
                        "\n"
                        "  --definition D the definition's JSON itself, or file://FILE\n"
                        "  --type TYPE    the rules of a STANDARD (default) or EXPRESS state machine;\n"
                        "                 EXPRESS refuses .sync, .waitForTaskToken and activities\n"
                        "  -h, --help     show this help\n",
        },
        {
                .name = "run",
                .run = verb_run,
                .summary = "run a state machine in-process, with mocked Task results",
                .help = "imgflow run FILE [OPTIONS]\n"
                        "\n"
                        "Runs the definition in FILE in this process, on a virtual clock (Wait\n"
                        "states, retries and timeouts take no time). Task results come from a\n"
                        "Step Functions Local mock configuration; a Task without a mock returns\n"
                        "its input. Prints the output as one line of JSON and exits 0, or prints\n"
                        "{\"Error\":...,\"Cause\":...} and exits 1. Exits 2 for an invalid definition\n"
                        "or bad arguments.\n"
                        "\n"
                        "  --input JSON          execution input (default {})\n"
                        "  --input-file FILE     read the execution input from FILE\n"
                        "  --mock-config FILE    a Step Functions Local MockConfigFile\n"
                        "  --test-case NAME      the test case of this state machine to use\n"
                        "  --name NAME           state machine name (default: FILE without\n"
                        "                        .asl.json/.json), used to find the test case\n"
                        "  --history             print the execution history to stderr, one\n"
                        "                        JSON event per line\n"
                        "  --real-time           really wait for timers instead of jumping the clock\n"
                        "  --max-history-events N  fail the execution past N history events\n"
                        "                        (default 25000, as Step Functions)\n"
                        "  -h, --help            show this help\n",
        },
        {
                .name = "render",
                .run = verb_render,
                .summary = "draw a state machine's graph as SVG, coloured by an execution",
                .help = "imgflow render FILE [OPTIONS]\n"
                        "\n"
                        "Draws the definition in FILE as the console does (Graphviz's dot layout):\n"
                        "states as nodes, Choice rules, Default and Catch edges labelled, Retry as\n"
                        "loops, Parallel branches and Map processors as nested boxes. With a history\n"
                        "each state is coloured by what happened to it: succeeded, caught, failed,\n"
                        "running, aborted or not reached (the SVG classes of the nodes too).\n"
                        "\n"
                        "  --history FILE        the history to colour by: `imgflow run --history`\n"
                        "                        lines (its standard error) or a\n"
                        "                        get-execution-history answer\n"
                        "  --execution-arn ARN   read the history of this execution from the store\n"
                        "                        (--execution is the same; connection options below)\n"
                        "  -o, --output FILE     write there (default standard output)\n"
                        "  --format FORMAT       svg (default), dot, or json: what happened to each\n"
                        "                        state (status, retries, input, output, "
                        "error)\n" CLI_REMOTE_HELP,
        },
        /* Verbs that talk to a running system (Redis, Kafka, coordinators):
         * cmd-machines.c, cmd-executions.c, cmd-callbacks.c; docs/cli.md. */
        {
                .name = "create-state-machine",
                .run = verb_create_state_machine,
                .summary = "validate and register a state machine definition",
                .help = "imgflow create-state-machine --name NAME --definition FILE [OPTIONS]\n"
                        "\n"
                        "Validates FILE (errors as validate-state-machine-definition prints them,\n"
                        "on stderr, exit 1) and stores it as version 1 of NAME. Creating it again\n"
                        "with the same definition is a no-op; with another definition it fails\n"
                        "with StateMachineAlreadyExists (use update-state-machine). Prints\n"
                        "{\"stateMachineArn\",\"creationDate\",\"stateMachineVersionArn\"}.\n"
                        "\n"
                        "  --name NAME            state machine name (1..80 characters)\n"
                        "  --definition DEF       the ASL definition: its JSON, file://FILE or FILE\n"
                        "  --role-arn ARN         kept with the machine ($$.Execution.RoleArn)\n"
                        "  --type STANDARD|EXPRESS  the type, kept at creation (default STANDARD);\n"
                        "                         EXPRESS refuses '.sync', '.waitForTaskToken' and\n"
                        "                         activities, and runs in memory (docs/express.md)\n"
                        "  --logging-configuration JSON  {\"level\": ALL|ERROR|FATAL|OFF,\n"
                        "                         \"includeExecutionData\": bool, \"destinations\": "
                        "[...]}:\n"
                        "                         an EXPRESS machine's history events go to\n"
                        "                         <prefix>logs at that level\n" CLI_REMOTE_HELP,
        },
        {
                .name = "import-sam",
                .run = verb_import_sam,
                .summary = "register a SAM template's state machines and map its Lambda functions",
                .help = "imgflow import-sam TEMPLATE [OPTIONS]\n"
                        "\n"
                        "Reads an AWS SAM / CloudFormation template (YAML with the short-form tags\n"
                        "!Ref, !GetAtt, !Sub, !Join, ..., or JSON). Each function\n"
                        "(AWS::Serverless::Function with Globals, AWS::Lambda::Function) that\n"
                        "[resources] does not map to a built-in operation or another pool goes to\n"
                        "imgflow-lambda: it is written to the functions file, and the [resources]\n"
                        "lines the coordinators need are printed. Each AWS::Serverless::StateMachine\n"
                        "and AWS::StepFunctions::StateMachine is created, or updated when it exists,\n"
                        "from Definition, DefinitionUri or DefinitionString with\n"
                        "DefinitionSubstitutions applied, and its Lambda Tasks are checked. Prints\n"
                        "what it did and each thing it could not map (\"not mapped: ...\"); exits 1\n"
                        "if there was any, 2 for a template it cannot read.\n"
                        "\n"
                        "  --functions-file FILE  the functions file to write (default\n"
                        "                         [lambda] functions); its other functions are kept\n"
                        "  --resources-file FILE  also write the [resources] lines to FILE\n"
                        "  --stack-name NAME      AWS::StackName (default: the template's directory)\n"
                        "  --concurrency N        runtime processes per function (default 1, or the\n"
                        "                         function's "
                        "ReservedConcurrentExecutions)\n" CLI_REMOTE_HELP,
        },
        {
                .name = "update-state-machine",
                .run = verb_update_state_machine,
                .summary = "store a new version of a state machine's definition",
                .help = "imgflow update-state-machine --name NAME --definition FILE [OPTIONS]\n"
                        "\n"
                        "Validates FILE and stores it as the next version of NAME; new executions\n"
                        "use it, running ones keep theirs. Prints {\"updateDate\",\n"
                        "\"stateMachineArn\",\"stateMachineVersionArn\"}. StateMachineDoesNotExist\n"
                        "for an unknown NAME.\n"
                        "\n"
                        "  --name NAME            state machine name\n"
                        "  --definition DEF       the ASL definition: its JSON, file://FILE or FILE\n"
                        "  --role-arn ARN         kept with the machine\n" CLI_REMOTE_HELP,
        },
        {
                .name = "describe-state-machine",
                .run = verb_describe_state_machine,
                .summary = "show a state machine and its definition",
                .help = "imgflow describe-state-machine --name NAME [--version V] [OPTIONS]\n"
                        "\n"
                        "Prints {\"stateMachineArn\",\"stateMachineVersionArn\",\"name\",\"status\",\n"
                        "\"definition\",\"type\",\"creationDate\",\"updateDate\",\"version\",\n"
                        "\"latestVersion\"} of the latest version or of version V.\n"
                        "\n"
                        "  --name NAME            state machine name\n"
                        "  --version V            a version (default: the latest)\n" CLI_REMOTE_HELP,
        },
        {
                .name = "list-state-machines",
                .run = verb_list_state_machines,
                .summary = "list the registered state machines",
                .help = "imgflow list-state-machines [--max-results N] [--next-token TOKEN] [OPTIONS]\n"
                        "\n"
                        "Prints {\"stateMachines\": [{\"stateMachineArn\",\"name\",\"type\",\n"
                        "\"creationDate\",\"updateDate\",\"latestVersion\"}, ...]}, sorted by name:\n"
                        "every machine, or with --max-results or --next-token one page and its\n"
                        "\"nextToken\" when more follow (as the AWS CLI with --no-paginate).\n"
                        "\n"
                        "  --max-results N        at most N machines (1..1000)\n"
                        "  --next-token TOKEN     the page after the one that printed "
                        "TOKEN\n" CLI_REMOTE_HELP,
        },
        {
                .name = "delete-state-machine",
                .run = verb_delete_state_machine,
                .summary = "delete a state machine (running executions finish)",
                .help = "imgflow delete-state-machine --name NAME [OPTIONS]\n"
                        "\n"
                        "Removes NAME from the registry; its definitions are kept for the\n"
                        "retention ([coordinator] retention) so running executions finish.\n"
                        "Prints nothing. StateMachineDoesNotExist for an unknown NAME.\n"
                        "\n"
                        "  --name NAME            state machine name\n" CLI_REMOTE_HELP,
        },
        {
                .name = "start-execution",
                .run = verb_start_execution,
                .summary = "start an execution (through a coordinator)",
                .help = "imgflow start-execution --state-machine NAME[:VERSION] [--name X]\n"
                        "                        [--input JSON | --input-file FILE]\n"
                        "                        [--wait [--timeout S]] [OPTIONS]\n"
                        "\n"
                        "Publishes StartExecution to <prefix>jobs and waits for the coordinator's\n"
                        "answer. Prints {\"executionArn\",\"startDate\"}, or fails (exit 1) with\n"
                        "ExecutionAlreadyExists (the name is taken with another input, or that\n"
                        "execution is closed), StateMachineDoesNotExist, InvalidExecutionInput.\n"
                        "Starting again with the same name and input returns the same execution.\n"
                        "\n"
                        "  --state-machine NAME[:VERSION]  also --state-machine-arn\n"
                        "                         imgflow:stateMachine:NAME[:VERSION]\n"
                        "  --name X               execution name (default: a random UUID)\n"
                        "  --input JSON           execution input (default {})\n"
                        "  --input-file FILE      read the input from FILE (- for stdin)\n"
                        "  --wait                 wait for the end: Map progress on stderr, then\n"
                        "                         the describe-execution output; exit 0 only\n"
                        "                         if it SUCCEEDED\n"
                        "  --timeout S            with --wait: give up after S seconds (exit "
                        "1)\n" CLI_REMOTE_HELP,
        },
        {
                .name = "start-sync-execution",
                .run = verb_start_sync_execution,
                .summary = "run an EXPRESS execution and print its result",
                .help = "imgflow start-sync-execution --state-machine NAME[:VERSION] [--name X]\n"
                        "                        [--input JSON | --input-file FILE]\n"
                        "                        [--timeout S] [OPTIONS]\n"
                        "\n"
                        "Publishes StartSyncExecution to <prefix>jobs; the coordinator runs the\n"
                        "EXPRESS execution in memory and answers when it ends. Prints\n"
                        "{\"executionArn\",\"stateMachineArn\",\"name\",\"startDate\",\"stopDate\",\n"
                        "\"status\",\"error\",\"cause\",\"input\",\"output\",\"billingDetails\"} (exit 0\n"
                        "whatever the status, as the AWS CLI), or fails (exit 1) with\n"
                        "StateMachineTypeNotSupported (a STANDARD machine),\n"
                        "StateMachineDoesNotExist, InvalidExecutionInput, or a timeout.\n"
                        "\n"
                        "  --state-machine NAME[:VERSION]  also --state-machine-arn\n"
                        "  --name X               execution name (default: a random UUID)\n"
                        "  --input JSON           execution input (default {})\n"
                        "  --input-file FILE      read the input from FILE (- for stdin)\n"
                        "  --timeout S            wait at most S seconds for the answer\n"
                        "                         (default 330: the 5 minutes of an EXPRESS\n"
                        "                         execution and some slack)\n" CLI_REMOTE_HELP,
        },
        {
                .name = "describe-execution",
                .run = verb_describe_execution,
                .summary = "show an execution's status, input and output",
                .help = "imgflow describe-execution --execution-arn ARN [OPTIONS]\n"
                        "\n"
                        "ARN is imgflow:execution:<stateMachine>:<name> or <stateMachine>:<name>.\n"
                        "Prints {\"executionArn\",\"stateMachineArn\",\"stateMachineVersionArn\",\n"
                        "\"name\",\"status\",\"startDate\",\"stopDate\",\"input\",\"output\",\"error\",\n"
                        "\"cause\"} (input and output as JSON text, as Step Functions does).\n"
                        "ExecutionDoesNotExist for an unknown (or expired) execution.\n"
                        "\n"
                        "  --execution-arn ARN    the execution\n" CLI_REMOTE_HELP,
        },
        {
                .name = "get-execution-history",
                .run = verb_get_execution_history,
                .summary = "print an execution's history events",
                .help = "imgflow get-execution-history --execution-arn ARN [--reverse-order]\n"
                        "                              [--max-results N] [--next-token T] [OPTIONS]\n"
                        "\n"
                        "Prints {\"events\": [{\"id\",\"previousEventId\",\"timestamp\",\"type\",\n"
                        "\"<type>EventDetails\"}, ...]}, oldest first: every event, read a page\n"
                        "at a time, as the AWS CLI does. With --max-results or --next-token, one\n"
                        "page and, when more follow, \"nextToken\" to pass as --next-token.\n"
                        "\n"
                        "  --execution-arn ARN    the execution\n"
                        "  --reverse-order        newest first\n"
                        "  --max-results N        one page of at most N events (1..1000)\n"
                        "  --next-token T         the page after the one that printed T\n" CLI_REMOTE_HELP,
        },
        {
                .name = "list-executions",
                .run = verb_list_executions,
                .summary = "list executions, newest first",
                .help = "imgflow list-executions [--state-machine NAME | --map-run-arn ARN]\n"
                        "                        [--status-filter STATUS] [--max-results N] [--next-token "
                        "T]\n"
                        "                        [OPTIONS]\n"
                        "\n"
                        "Prints {\"executions\": [{\"executionArn\",\"stateMachineArn\",\"name\",\n"
                        "\"status\",\"startDate\",\"stopDate\"}, ...]}, newest first, and\n"
                        "\"nextToken\" when more follow: pass it as --next-token for the next page.\n"
                        "\n"
                        "  --state-machine NAME   only this state machine's (also --state-machine-arn)\n"
                        "  --map-run-arn ARN      the child executions of this distributed Map Run\n"
                        "  --status-filter STATUS RUNNING, SUCCEEDED, FAILED, TIMED_OUT or ABORTED\n"
                        "  --max-results N        at most N (1..1000, default 100)\n"
                        "  --next-token T         the page after the one that printed T\n" CLI_REMOTE_HELP,
        },
        {
                .name = "stop-execution",
                .run = verb_stop_execution,
                .summary = "stop a running execution (it ends ABORTED)",
                .help = "imgflow stop-execution --execution-arn ARN [--error E] [--cause C] [OPTIONS]\n"
                        "\n"
                        "Publishes StopExecution to <prefix>jobs, keyed by the execution id, and\n"
                        "waits for the coordinator's answer: prints {\"stopDate\"}, or fails with "
                        "ExecutionDoesNotExist,\n"
                        "ExecutionNotRunning, or InvalidArn for an EXPRESS machine's execution (Step\n"
                        "Functions cannot stop Express executions). Open tasks are closed: their task\n"
                        "tokens are refused.\n"
                        "\n"
                        "  --execution-arn ARN    the execution\n"
                        "  --error E              error name recorded for the stop\n"
                        "  --cause C              human-readable cause\n" CLI_REMOTE_HELP,
        },
        {
                .name = "describe-map-run",
                .run = verb_describe_map_run,
                .summary = "print a distributed Map's Map Run: settings and counts",
                .help = "imgflow describe-map-run --map-run-arn ARN [OPTIONS]\n"
                        "\n"
                        "Prints DescribeMapRun's {\"mapRunArn\",\"executionArn\",\"status\",\n"
                        "\"startDate\",\"stopDate\",\"maxConcurrency\",\"toleratedFailurePercentage\",\n"
                        "\"toleratedFailureCount\",\"itemCounts\",\"executionCounts\",\"redriveCount\",\n"
                        "\"redriveDate\"} from the store; ResourceNotFound for an unknown (or expired)\n"
                        "run. The ARN is the MapRunStarted event's mapRunArn.\n"
                        "\n"
                        "  --map-run-arn ARN      imgflow:mapRun:<stateMachine>/<label>:<run "
                        "id>\n" CLI_REMOTE_HELP,
        },
        {
                .name = "list-map-runs",
                .run = verb_list_map_runs,
                .summary = "list an execution's Map Runs",
                .help = "imgflow list-map-runs --execution-arn ARN [--max-results N] [--next-token T]\n"
                        "                      [OPTIONS]\n"
                        "\n"
                        "Prints {\"mapRuns\": [{\"executionArn\",\"mapRunArn\",\"stateMachineArn\",\n"
                        "\"startDate\",\"stopDate\"}, ...]} in start order, and \"nextToken\" when\n"
                        "more follow.\n"
                        "\n"
                        "  --execution-arn ARN    the execution\n"
                        "  --max-results N        at most N (1..1000, default 100)\n"
                        "  --next-token T         the page after the one that printed T\n" CLI_REMOTE_HELP,
        },
        {
                .name = "update-map-run",
                .run = verb_update_map_run,
                .summary = "change a running Map Run's concurrency and tolerated failures",
                .help = "imgflow update-map-run --map-run-arn ARN [--max-concurrency N]\n"
                        "                       [--tolerated-failure-count N]\n"
                        "                       [--tolerated-failure-percentage P] [OPTIONS]\n"
                        "\n"
                        "Publishes UpdateMapRun to <prefix>jobs, keyed by the run's execution, and\n"
                        "waits for the coordinator's answer: the running Map takes the settings at\n"
                        "once (more children start when --max-concurrency rises; failures past a\n"
                        "lowered threshold fail the run). Prints {}; ResourceNotFound for an\n"
                        "unknown run, ValidationException for one that is not running.\n"
                        "\n"
                        "  --map-run-arn ARN      the Map Run\n"
                        "  --max-concurrency N    children at a time (0: as many as allowed, 10000)\n"
                        "  --tolerated-failure-count N       failed items the run tolerates\n"
                        "  --tolerated-failure-percentage P  failed items in percent "
                        "(0..100)\n" CLI_REMOTE_HELP,
        },
        {
                .name = "redrive-execution",
                .run = verb_redrive_execution,
                .summary = "continue a failed, timed out or aborted execution from where it stopped",
                .help = "imgflow redrive-execution --execution-arn ARN [--client-token T] [OPTIONS]\n"
                        "\n"
                        "Publishes RedriveExecution and waits for the coordinator's answer: prints\n"
                        "{\"redriveDate\"}, or fails with ExecutionDoesNotExist or\n"
                        "ExecutionNotRedrivable (a RUNNING or SUCCEEDED execution, one that stopped\n"
                        "more than 14 days ago, or one at the history limit). The execution runs\n"
                        "again from the states that did not succeed, with the same input,\n"
                        "variables and context; branches and iterations that succeeded are not run\n"
                        "again. describe-execution shows redriveCount, redriveDate and\n"
                        "redriveStatus.\n"
                        "\n"
                        "  --execution-arn ARN    the execution\n"
                        "  --client-token T       idempotency token (1-64 characters): the same one\n"
                        "                         within 15 minutes gets the same answer\n" CLI_REMOTE_HELP,
        },
        {
                .name = "send-task-success",
                .run = verb_send_task_success,
                .summary = "complete a .waitForTaskToken task with an output",
                .help = "imgflow send-task-success --task-token TOKEN\n"
                        "                          (--task-output JSON | --task-output-file FILE)\n"
                        "                          [OPTIONS]\n"
                        "\n"
                        "Sends SendTaskSuccess and waits for the coordinator's answer. Prints\n"
                        "nothing and exits 0 when accepted; exits 1 with InvalidToken (never\n"
                        "issued), TaskDoesNotExist (task closed), TaskTimedOut, InvalidOutput\n"
                        "(not JSON, over the payload limit); 2 for bad usage.\n"
                        "\n"
                        "  --task-token TOKEN     the token ($$.Task.Token of the task)\n"
                        "  --task-output JSON     the task's result\n"
                        "  --task-output-file FILE  read the result from FILE (- for "
                        "stdin)\n" CLI_REMOTE_HELP,
        },
        {
                .name = "send-task-failure",
                .run = verb_send_task_failure,
                .summary = "fail a .waitForTaskToken task (Retry/Catch apply)",
                .help = "imgflow send-task-failure --task-token TOKEN [--error E] [--cause C] [OPTIONS]\n"
                        "\n"
                        "Sends SendTaskFailure; the task fails with error E (default\n"
                        "States.TaskFailed), which Retry and Catch match. Answers and exit codes\n"
                        "as send-task-success.\n"
                        "\n"
                        "  --task-token TOKEN     the token\n"
                        "  --error E              error name (at most 256 bytes)\n"
                        "  --cause C              cause (at most 32768 bytes)\n" CLI_REMOTE_HELP,
        },
        {
                .name = "send-task-heartbeat",
                .run = verb_send_task_heartbeat,
                .summary = "report that a .waitForTaskToken task is still being worked on",
                .help = "imgflow send-task-heartbeat --task-token TOKEN [OPTIONS]\n"
                        "\n"
                        "Sends SendTaskHeartbeat: restarts the task's HeartbeatSeconds clock.\n"
                        "Answers and exit codes as send-task-success.\n"
                        "\n"
                        "  --task-token TOKEN     the token\n" CLI_REMOTE_HELP,
        },
};

void cli_verb_help(const Verb *verb, FILE *f) {
        fputs("Usage: ", f);
        fputs(verb->help, f);
}

static void usage(FILE *f) {
        fprintf(f, "Usage: imgflow VERB [ARGS...]\n\nVerbs:\n");
        for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
                fprintf(f, "  %-36s %s\n", verbs[i].name, verbs[i].summary);
        fprintf(f, "\nRun `imgflow VERB --help` for the options of one verb.\n");
}

int cli_read_file(const char *path, size_t max_bytes, char **ret, size_t *ret_len) {
        size_t n = 0, allocated = 0;
        char *buf = NULL;
        int fd, r = 0;

        fd = streq(path, "-") ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        for (;;) {
                ssize_t k;

                if (n + 4096 + 1 > allocated) {
                        char *p;

                        allocated = allocated ? allocated * 2 : 65536;
                        p = realloc(buf, allocated);
                        if (!p) {
                                r = -ENOMEM;
                                break;
                        }
                        buf = p;
                }
                k = read(fd, buf + n, allocated - n - 1);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        break;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > max_bytes) {
                        r = -EFBIG;
                        break;
                }
        }
        if (fd != STDIN_FILENO)
                close(fd);
        if (r < 0) {
                free(buf);
                return r;
        }
        if (!buf && !(buf = malloc(1)))
                return -ENOMEM;
        buf[n] = 0;
        *ret = buf;
        if (ret_len)
                *ret_len = n;
        return 0;
}

int cli_read_file_or_warn(const char *path, size_t max_bytes, const char *too_big, char **ret, size_t *ret_len) {
        int r = cli_read_file(path, max_bytes, ret, ret_len);

        if (r < 0)
                fprintf(stderr, "imgflow: cannot read %s: %s\n", path, r == -EFBIG ? too_big : strerror(-r));
        return r;
}

int cli_read_definition(const char *path, char **ret, size_t *ret_len) {
        return cli_read_file_or_warn(path, ASL_MAX_DEFINITION_BYTES,
                                     "larger than the definition size limit (1 MiB)", ret, ret_len);
}

void cli_print_diag(FILE *f, const AslDiag *d) {
        for (size_t i = 0; i < d->n; i++)
                fprintf(f, "%s: %s\n", d->entries[i].pointer[0] ? d->entries[i].pointer : "(root)",
                        d->entries[i].message);
        if (d->n == 0)
                fprintf(f, "(root): invalid definition\n");
}

void cli_print_warnings(FILE *f, const AslDiag *d) {
        for (size_t i = 0; i < d->n_warnings; i++)
                fprintf(f, "warning: %s: %s\n", d->warnings[i].pointer[0] ? d->warnings[i].pointer : "(root)",
                        d->warnings[i].message);
}

int cli_machine_parse(const char *text, size_t len, FILE *diag, AslMachine **ret) {
        AslDiag d = {};
        int r;

        r = asl_machine_parse(text, len, ret, &d);
        if (r < 0)
                cli_print_diag(diag, &d);
        cli_print_warnings(diag, &d);
        asl_diag_clear(&d);
        return r;
}

json_t *cli_parse_json(const char *text, size_t len, const char *what) {
        json_error_t e;
        json_t *v = json_loadb(text, len, JSON_DECODE_ANY, &e);

        if (!v)
                fprintf(stderr, "imgflow: %s is not valid JSON: line %d, column %d: %s\n",
                        what, e.line, e.column, e.text);
        return v;
}

/* Levenshtein distance of a and b, at most 64 bytes of b (a verb). */
static size_t edit_distance(const char *a, const char *b) {
        size_t lb = strlen(b), row[65];

        if (lb > 64)
                return SIZE_MAX;
        for (size_t j = 0; j <= lb; j++)
                row[j] = j;
        for (size_t i = 1; a[i - 1]; i++) {
                size_t diag = row[0];
                row[0] = i;
                for (size_t j = 1; j <= lb; j++) {
                        size_t up = row[j];
                        size_t best = diag + (a[i - 1] != b[j - 1]);
                        best = MIN_(best, up + 1);
                        best = MIN_(best, row[j - 1] + 1);
                        row[j] = best;
                        diag = up;
                }
        }
        return row[lb];
}

/* The verb closest to a mistyped one (a third of its letters may differ),
 * or a verb that starts with it; NULL when none is close. */
static const char *nearest_verb(const char *word) {
        const char *best = NULL;
        size_t best_d = SIZE_MAX, n = strlen(word);

        if (n == 0 || n > 64)
                return NULL;
        for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
                size_t d = edit_distance(word, verbs[i].name);
                if (strncmp(verbs[i].name, word, n) == 0 && n >= 3)
                        d = MIN_(d, 1);
                if (d < best_d) {
                        best_d = d;
                        best = verbs[i].name;
                }
        }
        return best && best_d <= MAX_(n, strlen(best)) / 3 ? best : NULL;
}

int main(int argc, char *argv[]) {
        if (argc < 2) {
                usage(stderr);
                return CLI_EXIT_USAGE;
        }
        if (streq(argv[1], "--help") || streq(argv[1], "-h") || streq(argv[1], "help")) {
                if (argc > 2)
                        for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
                                if (streq(verbs[i].name, argv[2])) {
                                        cli_verb_help(&verbs[i], stdout);
                                        return CLI_EXIT_OK;
                                }
                usage(stdout);
                return CLI_EXIT_OK;
        }
        if (streq(argv[1], "--version")) {
                printf("imgflow %s\n", IMGFLOW_VERSION);
                return CLI_EXIT_OK;
        }
        for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
                if (streq(verbs[i].name, argv[1]))
                        return verbs[i].run(&verbs[i], argc - 1, argv + 1);

        const char *near = nearest_verb(argv[1]);
        if (near)
                fprintf(stderr, "imgflow: unknown verb '%s'; did you mean '%s'?\n\n", argv[1], near);
        else
                fprintf(stderr, "imgflow: unknown verb '%s'\n\n", argv[1]);
        usage(stderr);
        return CLI_EXIT_USAGE;
}
