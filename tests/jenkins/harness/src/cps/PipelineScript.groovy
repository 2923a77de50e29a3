package harness

import com.cloudbees.groovy.cps.Continuable
import com.cloudbees.groovy.cps.NonCPS
import com.cloudbees.groovy.cps.SerializableScript
import org.codehaus.groovy.runtime.InvokerHelper

/** The base class of every Jenkinsfile and library var, as CpsScript is on Jenkins: the globals (`env`,
 *  `params`, `currentBuild`, `scm`), the library's vars, and the steps the files use. Compiled with the CPS
 *  transformer like the scripts themselves, so a step that takes a body runs it as Pipeline code. A step
 *  that waits (sh, lock, input) suspends the program and the Controller resumes it with the outcome. Each
 *  step's comment names the Jenkins behaviour it models. */
abstract class PipelineScript extends SerializableScript {
    @NonCPS
    protected String buildId() {
        return getBinding().getVariable(Build.VARIABLE) as String
    }

    @NonCPS
    protected Build b() {
        return Controller.build(buildId())
    }

    // -- globals and library vars ------------------------------------------------------------------------

    @NonCPS
    Object getProperty(String name) {
        switch (name) {
            case 'env': return new EnvGlobal(buildId())
            // `params` is read-only.
            case 'params': return Collections.unmodifiableMap(new LinkedHashMap(b().params))
            case 'currentBuild': return new CurrentBuild(buildId())
            case 'scm': return [$class: 'GitSCM', source: 'the job repository']
            case 'binding': return getBinding()
        }
        Object var = libraryVar(name)
        return var != null ? var : super.getProperty(name)
    }

    /** A var of a library the build loaded with `@Library` (vars/NAME.groovy): one instance per build. */
    @NonCPS
    protected Object libraryVar(String name) {
        Build build = b()
        Map library = Controller.current.library
        List<String> asked = (build.vars.libraries ?: []) as List<String>
        if (library == null || !asked.any { it.tokenize('@')[0] == library.name }) {
            return null
        }
        File file = new File(library.path as String, "vars/${name}.groovy")
        if (!file.isFile()) {
            return null
        }
        Map instances = (build.vars.varInstances ?: (build.vars.varInstances = [:])) as Map
        if (!instances.containsKey(name)) {
            PipelineScript script = Controller.current.compiler.compile(file, name).newInstance() as PipelineScript
            script.setBinding(getBinding())
            instances[name] = script
        }
        return instances[name]
    }

    /** `name(args)` for a library var runs its `call`; anything else is "No such DSL method". */
    @NonCPS
    def methodMissing(String name, Object args) {
        Object var = libraryVar(name)
        if (var == null) {
            throw new MissingMethodException(name, getClass(), args as Object[])
        }
        return InvokerHelper.invokeMethod(var, 'call', args)
    }

    // -- bookkeeping every step does ---------------------------------------------------------------------

    /** Records the step; and a person's Abort (the scenario's abortAt: a stage) interrupts the first step
     *  that starts in that stage, once, as Jenkins interrupts the step that is running. */
    @NonCPS
    protected void starting(String step, Map args) {
        Build build = b()
        build.steps << [step: step, args: Json.safe(args), stage: build.stagePath, node: build.frame('node')?.agent,
                        credentials: build.framesOf('credentials').collectMany { (it.values as Map).keySet() as List }]
        if (build.spec.abortAt && !build.abortDelivered && build.framesOf('stage').any { it.name == build.spec.abortAt }) {
            build.abortDelivered = true
            build.log << 'Aborted by release-manager'
            throw new FlowInterruptedException(Result.ABORTED, 'Aborted by release-manager')
        }
    }

    @NonCPS
    protected String push(Map frame) {
        Build build = b()
        String token = UUID.randomUUID().toString()
        build.frames << (frame + [token: token])
        return token
    }

    @NonCPS
    protected Map pop(String token) {
        Build build = b()
        int at = build.frames.findLastIndexOf { it.token == token }
        return at >= 0 ? build.frames.remove(at) : null
    }

    @NonCPS
    protected File requireWorkspace(String step) {
        File cwd = b().cwd
        if (cwd == null) {
            // MissingContextVariableException, with the hint Jenkins prints.
            throw new PipelineError("${step}: Required context class hudson.FilePath is missing. Perhaps you forgot " +
                                    'to surround the code with a step that provides this, such as: node')
        }
        return cwd
    }

    // -- steps that take a body --------------------------------------------------------------------------

    /** node: takes an executor on an agent with the label and its workspace for this job (not checked out). */
    def node(String label, Closure body) {
        starting('node', [label: label])
        String token = push(Controller.current.agents.allocate(b(), label))
        try {
            return body()
        } finally {
            Controller.current.agents.release(pop(token))
        }
    }

    def node(Closure body) {
        return node(null, body)
    }

    /** withEnv: EnvVars.override, so an entry with an empty value UNSETS the variable; `$VAR` is expanded. */
    def withEnv(List overrides, Closure body) {
        starting('withEnv', [overrides: overrides])
        String token = push([type: 'env', overrides: overrides.collect { String.valueOf(it) }])
        try {
            return body()
        } finally {
            pop(token)
        }
    }

    /** withCredentials: a secret file is copied to `<workspace>@tmp/secretFiles/<random>/` and its path bound;
     *  a secret text is bound as is; an unknown id fails the step. Both are gone after the body. */
    def withCredentials(List bindings, Closure body) {
        starting('withCredentials', [bindings: bindings])
        Map frame = bindCredentials(bindings)
        String token = push(frame)
        try {
            return body()
        } finally {
            pop(token)
            (frame.files as List<String>).each { new File(it).parentFile.deleteDir() }
        }
    }

    @NonCPS
    protected Map bindCredentials(List bindings) {
        Map<String, String> values = [:]
        List<String> files = []
        for (Map binding : bindings as List<Map>) {
            if (binding.binding == 'file') {
                Map secret = Controller.current.credential(binding.credentialsId as String, 'Secret file')
                File source = new File(secret.path as String)
                File target = new File("${requireWorkspace('withCredentials').path}@tmp/secretFiles/${UUID.randomUUID()}/${source.name}")
                target.parentFile.mkdirs()
                target.bytes = source.bytes
                files << target.path
                values[binding.variable as String] = target.path
            } else {
                Map secret = Controller.current.credential(binding.credentialsId as String, 'Secret text')
                values[binding.variable as String] = secret.value as String
            }
        }
        return [type: 'credentials', values: values, files: files]
    }

    @NonCPS
    Map file(Map args) {
        return [binding: 'file', credentialsId: args.credentialsId, variable: args.variable]
    }

    @NonCPS
    Map string(Map args) {
        return [binding: 'string', credentialsId: args.credentialsId, variable: args.variable]
    }

    /** dir: a directory relative to the current one (created when something writes to it). */
    def dir(String path, Closure body) {
        starting('dir', [path: path])
        requireWorkspace('dir')
        String token = push([type: 'dir', path: path])
        try {
            return body()
        } finally {
            pop(token)
        }
    }

    /** timeout: bounds its body; the harness expires it only where the scenario lets an `input` time out,
     *  which aborts the build as Jenkins' ExceededTimeout does. */
    def timeout(Map args, Closure body) {
        starting('timeout', args)
        String unit = (args.unit ?: 'MINUTES') as String
        long time = args.time as long
        long minutes = unit == 'HOURS' ? time * 60 : unit == 'SECONDS' ? Math.max(1L, (long) (time / 60)) : time
        String token = push([type: 'timeout', minutes: minutes])
        try {
            return body()
        } finally {
            pop(token)
        }
    }

    def timeout(Integer minutes, Closure body) {
        return timeout([time: minutes], body)
    }

    /** lock (Lockable Resources): waits until the resource is free, holds it for the body, gives it back after
     *  it, also when the body fails. Waiting builds take it in arrival order, newest first with
     *  inversePrecedence. */
    def lock(Map args, Closure body) {
        starting('lock', args)
        Continuable.suspend('lock', [step: 'lock', resource: args.resource, inversePrecedence: args.inversePrecedence ?: false])
        try {
            return body()
        } finally {
            unlockResource(args.resource as String)
        }
    }

    def lock(String resource, Closure body) {
        return lock([resource: resource], body)
    }

    @NonCPS
    protected void unlockResource(String resource) {
        Controller.current.releaseLock(b(), resource)
    }

    /** catchError: a failure of the body is caught; the build (default FAILURE) and the stage (default
     *  SUCCESS) get the given results, and the pipeline goes on. */
    def catchError(Map args, Closure body) {
        starting('catchError', args)
        try {
            body()
        } catch (Throwable e) {
            caught(args, e)
        }
        return null
    }

    def catchError(Closure body) {
        return catchError([:], body)
    }

    @NonCPS
    protected void caught(Map args, Throwable e) {
        if (e instanceof FlowInterruptedException && args.catchInterruptions == false) {
            throw e
        }
        Build build = b()
        build.log << (args.message ? String.valueOf(args.message) : "caught ${e.message}")
        build.setResultAtLeast(Result.of((args.buildResult ?: 'FAILURE') as String))
        Map stage = build.frame('stage')
        if (stage != null) {
            stage.result = (stage.result as Result ?: Result.SUCCESS).combine(Result.of((args.stageResult ?: 'SUCCESS') as String))
        }
    }

    /** script: Groovy in a declarative `steps` block. */
    def script(Closure body) {
        starting('script', [:])
        return body()
    }

    /** The declarative `pipeline {}` block. */
    def pipeline(Closure body) {
        return new Declarative().run(this, body)
    }

    // -- steps without a body ----------------------------------------------------------------------------

    /** sh: runs the script with `sh -xe` on the agent; a non-zero exit FAILS the step (AbortException
     *  "script returned exit code N") unless returnStatus, which returns the code instead; returnStdout
     *  returns what it printed. Jenkins saves the program while it runs. */
    def sh(Object arg) {
        Map args = arg instanceof Map ? arg as Map : [script: arg]
        starting('sh', args)
        return Continuable.suspend('sh', shRequest(args))
    }

    @NonCPS
    protected Map shRequest(Map args) {
        if (args.script == null) {
            throw new PipelineError('sh: missing script')
        }
        File cwd = requireWorkspace('sh')
        Build build = b()
        return [step: 'sh', script: args.script.toString(), gstring: args.script instanceof GString,
                returnStatus: args.returnStatus as boolean, returnStdout: args.returnStdout as boolean,
                label: args.label, cwd: cwd.path, workspace: build.workspace.path,
                env: build.environment(Controller.current, true), stage: build.stagePath, node: build.frame('node').agent,
                credentials: build.framesOf('credentials').collectMany { (it.values as Map).keySet() as List }]
    }

    def echo(Object message) {
        starting('echo', [message: String.valueOf(message)])
        b().log << String.valueOf(message)
        return null
    }

    /** error: fails the build with the message (AbortException). */
    def error(String message) {
        starting('error', [message: message])
        throw new AbortException(message)
    }

    /** input: waits for a person, without an executor unless called inside `node`. Approved: returns the
     *  approver's id when only submitterParameter is asked for. Rejected: the build is ABORTED. */
    def input(Map args) {
        starting('input', args)
        return Continuable.suspend('input', inputRequest(args))
    }

    def input(String message) {
        return input([message: message])
    }

    @NonCPS
    protected Map inputRequest(Map args) {
        Build build = b()
        String message = String.valueOf(args.message)
        Map timeout = build.frame('timeout')
        // Without an id, Jenkins derives one from the message.
        String id = args.id ?: Integer.toHexString(message.hashCode()).capitalize()
        return [step: 'input', id: id, message: message, ok: args.ok, submitter: args.submitter,
                submitterParameter: args.submitterParameter, timeoutMinutes: timeout?.minutes,
                executorHeld: build.frame('node') != null, stage: build.stagePath]
    }

    /** milestone (Pipeline: Milestone Step): see Controller.passMilestone. */
    def milestone(Map args) {
        starting('milestone', args)
        Build build = b()
        int ordinal = args.ordinal != null ? args.ordinal as int : (build.lastMilestone == null ? 0 : build.lastMilestone + 1)
        Controller.current.passMilestone(build, ordinal)
        return null
    }

    def milestone(Integer ordinal) {
        return milestone([ordinal: ordinal])
    }

    /** deleteDir: removes the current directory and everything in it. */
    def deleteDir() {
        starting('deleteDir', [:])
        Files.deleteTree(requireWorkspace('deleteDir'))
        return null
    }

    /** checkout scm: the job's repository into the current directory; files it does not track stay. */
    def checkout(Object scm) {
        starting('checkout', [scm: String.valueOf(scm)])
        Files.copyTree(new File(Controller.current.scenario.scm as String), requireWorkspace('checkout'))
        return null
    }

    /** stash: saves the matching files of the current directory for this build (useDefaultExcludes on);
     *  none matching fails unless allowEmpty. A later stash of the same name replaces it. */
    def stash(Map args) {
        starting('stash', args)
        doStash(args)
        return null
    }

    def stash(String name) {
        return stash([name: name])
    }

    @NonCPS
    protected void doStash(Map args) {
        File cwd = requireWorkspace('stash')
        Build build = b()
        List<String> files = Files.select(cwd, args.includes as String, args.excludes as String, args.useDefaultExcludes != false)
        if (files.isEmpty() && !args.allowEmpty) {
            throw new AbortException("No files included in stash '${args.name}'")
        }
        File target = new File(Controller.current.root, "stashes/${build.id.replace('#', '-')}/${args.name}-${UUID.randomUUID()}")
        target.mkdirs()
        Files.copy(cwd, target, files)
        build.stashes[args.name as String] = target
    }

    /** unstash: restores a stash of this build into the current directory; an unknown name fails. */
    def unstash(String name) {
        starting('unstash', [name: name])
        doUnstash(name)
        return null
    }

    def unstash(Map args) {
        return unstash(args.name as String)
    }

    @NonCPS
    protected void doUnstash(String name) {
        File cwd = requireWorkspace('unstash')
        File saved = b().stashes[name]
        if (saved == null) {
            throw new AbortException("No such saved stash '${name}'")
        }
        Files.copyTree(saved, cwd)
    }

    /** junit: reads the JUnit XML files the pattern matches; none fails unless allowEmptyResults; a failed
     *  or broken test case makes the build (and stage) UNSTABLE. */
    def junit(Map args) {
        starting('junit', args)
        doJunit(args)
        return null
    }

    def junit(String pattern) {
        return junit([testResults: pattern])
    }

    @NonCPS
    protected void doJunit(Map args) {
        File cwd = requireWorkspace('junit')
        Build build = b()
        List<String> files = Files.select(cwd, args.testResults as String, null, true)
        if (files.isEmpty() && !args.allowEmptyResults) {
            throw new AbortException('No test report files were found. Configuration error?')
        }
        int failed = 0
        for (String path : files) {
            Map report = JUnit.read(new File(cwd, path))
            report.file = path
            build.junit << report
            failed += (report.failures as int) + (report.errors as int)
        }
        if (failed > 0) {
            build.setResultAtLeast(Result.UNSTABLE)
        }
    }

    /** archiveArtifacts: copies the matching files to the build's artifacts; none fails unless
     *  allowEmptyArchive. */
    def archiveArtifacts(Map args) {
        starting('archiveArtifacts', args)
        File cwd = requireWorkspace('archiveArtifacts')
        List<String> files = Files.select(cwd, args.artifacts as String, args.excludes as String, true)
        if (files.isEmpty() && !args.allowEmptyArchive) {
            throw new AbortException("No artifacts found that match the file pattern \"${args.artifacts}\". Configuration error?")
        }
        archive(cwd, files)
        return null
    }

    def archiveArtifacts(String pattern) {
        return archiveArtifacts([artifacts: pattern])
    }

    @NonCPS
    protected void archive(File cwd, List<String> files) {
        Build build = b()
        Files.copy(cwd, new File(Controller.current.root, "artifacts/${build.id.replace('#', '-')}"), files)
        build.artifacts.addAll(files)
    }

    def isUnix() {
        return true
    }

    def pwd() {
        return requireWorkspace('pwd').path
    }

    def fileExists(String path) {
        return new File(requireWorkspace('fileExists'), path).exists()
    }

    def readFile(Object arg) {
        String path = arg instanceof Map ? (arg as Map).file : arg
        return new File(requireWorkspace('readFile'), path).text
    }

    def writeFile(Map args) {
        File target = new File(requireWorkspace('writeFile'), args.file as String)
        target.parentFile.mkdirs()
        target.text = args.text as String
        return null
    }
}
