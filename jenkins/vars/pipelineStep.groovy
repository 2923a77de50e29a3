// Runs one pipeline-steps step (or `rollback`, or `unlock`) on the current agent, writing reports/<step>.xml
// (JUnit) and reports/<step>.json. The sh text is a constant: every value reaches the shell through the
// environment, so neither parameters nor credentials are ever interpolated into a script.

import groovy.transform.Field

@Field static final List<String> STEPS = [
    'pre-clean', 'prepare-image', 'check-env', 'deploy', 'verify-staged',
    'confirm', 'switch', 'verify-prod', 'post-clean', 'rollback', 'unlock',
]

// Extra flags arrive one a line in PS_FLAGS and are appended to the argument list as they are.
// `rollback` and `unlock` are commands of their own, not steps: they write no reports (they print what
// they did), so they get no report flags. PS_CONFIG, PS_STATE and PS_FLAGS may be unset: withEnv removes a
// variable whose value is empty, so under `set -u` they are read as ${NAME-}.
@Field static final String SCRIPT = '''\
set -eu
case "$PS_STEP" in
    rollback | unlock) set -- "$PS_STEP" ;;
    *) set -- step "$PS_STEP" ;;
esac
[ -z "${PS_CONFIG-}" ] || set -- "$@" -c "$PS_CONFIG"
[ -z "${PS_STATE-}" ] || set -- "$@" --state "$PS_STATE"
case "$PS_STEP" in
    rollback | unlock) ;;
    *) set -- "$@" --junit-xml "$PS_REPORTS/$PS_STEP.xml" --report "$PS_REPORTS/$PS_STEP.json" ;;
esac
while IFS= read -r arg; do
    [ -z "$arg" ] || set -- "$@" "$arg"
done <<PS_FLAGS_END
${PS_FLAGS-}
PS_FLAGS_END
pipeline-steps "$@"
'''

int call(Map args = [:]) {
    String step = args.step
    if (!(step in STEPS)) {
        error("pipelineStep: step must be one of ${STEPS.join(', ')}; got '${step}'")
    }
    List<String> flags = ((args.flags ?: []) as List).collect { flag -> flag as String }
    if (flags.any { flag -> flag.contains('\n') || flag.contains('\r') }) {
        error('pipelineStep: a flag may not contain a line break')
    }
    if (args.dryRun) {
        flags << '--dry-run'
    }
    String reports = args.reportsDir ?: 'reports'
    String stashName = args.stash
    List<String> environment = [
        "PS_STEP=${step}",
        "PS_CONFIG=${args.config ?: ''}",
        "PS_STATE=${args.state ?: ''}",
        "PS_REPORTS=${reports}",
        "PS_FLAGS=${flags.join('\n')}",
    ]

    if (stashName && args.unstash != false) {
        unstash stashName
    }
    int status = 0
    try {
        withCredentials(credentialBindings(step, args)) {
            withEnv(environment) {
                status = sh(script: SCRIPT, label: "pipeline-steps ${step}", returnStatus: true)
            }
        }
    } finally {
        if (stashName) {
            stash name: stashName, includes: ".pipeline-steps/**, ${reports}/**", allowEmpty: true
        }
    }
    if (status != 0 && !args.returnStatus) {
        error("pipeline-steps ${step} exited ${status}")
    }
    return status
}

// The kubeconfig file for every step; the SMTP password only where an e-mail is sent (confirm), unless
// the caller names it. Passing null for an id binds nothing for it.
List credentialBindings(String step, Map args) {
    String kubeconfig = args.containsKey('kubeconfigCredentialsId') ? args.kubeconfigCredentialsId : 'kubeconfig'
    String smtpDefault = step == 'confirm' ? 'smtp-password' : null
    String smtp = args.containsKey('smtpCredentialsId') ? args.smtpCredentialsId : smtpDefault
    List bindings = []
    if (kubeconfig) {
        bindings << file(credentialsId: kubeconfig, variable: 'KUBECONFIG')
    }
    if (smtp) {
        bindings << string(credentialsId: smtp, variable: 'SMTP_PASSWORD')
    }
    return bindings
}
