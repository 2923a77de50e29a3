package harness

import com.cloudbees.groovy.cps.Continuable
import com.cloudbees.groovy.cps.Outcome

/** The scenario's Jenkins controller: jobs, agents, credentials, the Lockable Resources and Milestone plugins'
 *  bookkeeping, stashes, and the scheduler that runs the builds' CPS programs. Builds run one at a time and
 *  interleave where Jenkins' would: a build waiting for a lock or an `input` lets the others run. An `input`
 *  is answered (as the scenario says) only when no build can go on without an answer. */
class Controller {
    static Controller current

    final Map scenario
    final Compiler compiler
    final File root
    final Agents agents
    final Map<String, String> agentEnv
    final String jenkinsUrl
    final Map<String, Job> jobs = [:]
    final List<Build> builds = []
    /** Lockable Resources: resource -> holder build id; and the queue of builds waiting, in arrival order. */
    final Map<String, String> lockHolders = [:]
    final List<Build> lockQueue = []
    int lockSequence = 0
    final Closure<Map> onEvent
    final Map<String, Object> library

    Controller(Map scenario, Compiler compiler, Closure<Map> onEvent) {
        this.scenario = scenario
        this.compiler = compiler
        this.onEvent = onEvent
        root = new File(scenario.root as String)
        agents = new Agents(new File(root, 'agents'), (scenario.agents ?: 4) as int,
                            (scenario.labels ?: ['pipeline-steps']) as List<String>)
        agentEnv = (scenario.agentEnv ?: [:]) as Map<String, String>
        jenkinsUrl = scenario.jenkinsUrl ?: 'https://jenkins.example.com/'
        library = scenario.library as Map
        (scenario.jobs ?: [:]).each { String name, Map settings ->
            Job made = job(name)
            made.parameterized = !(settings.new as boolean)
            made.nextNumber = (settings.nextNumber ?: 1) as int
        }
    }

    Job job(String name) {
        return jobs.computeIfAbsent(name) { new Job(name) }
    }

    static Build build(String id) {
        return current.builds.find { it.id == id }
    }

    // -- running ------------------------------------------------------------------------------------------

    List<Map> run() {
        current = this
        List<Map> pending = (scenario.builds as List<Map>).withIndex().collect { Map spec, int i -> spec + [index: i] }
        Map<Integer, Build> started = [:]
        while (true) {
            pending.findAll { it.after == null || started[it.after as int]?.state == 'DONE' }.each { Map spec ->
                started[spec.index as int] = start(spec, started)
                pending.remove(spec)
            }
            Build ready = builds.find { it.state == 'READY' }
            if (ready != null) {
                step(ready)
                continue
            }
            Build asking = builds.find { it.state == 'WAITING_INPUT' }
            if (asking != null) {
                answer(asking)
                continue
            }
            if (pending) {
                continue
            }
            List<Build> stuck = builds.findAll { it.state != 'DONE' }
            if (stuck) {
                throw new PipelineError("deadlock: ${stuck.collect { "${it.id} ${it.state}" }}")
            }
            break
        }
        return builds.collect { it.summary() }
    }

    Build start(Map spec, Map<Integer, Build> started) {
        Job job = job(spec.job as String ?: 'release-shop')
        Build build = new Build(job, job.nextNumber++, spec)
        builds << build
        Map restart = spec.restart as Map
        if (restart != null) {
            Build original = started[restart.of as int]
            build.vars.restartFrom = restart.stage
            build.vars.restartOf = original.id
            build.spec.params = original.spec.params
            original.stashes.each { name, File dir ->
                File copy = new File(root, "stashes/${build.id.replace('#', '-')}/${name}")
                Files.copyTree(dir, copy)
                build.stashes[name] = copy
            }
        }
        File file = new File(spec.script as String)
        Class type = compiler.compile(file, 'WorkflowScript')
        Script script = type.newInstance() as Script
        script.getBinding().setVariable(Build.VARIABLE, build.id)
        build.vars.libraries = Compiler.librariesOf(type)
        build.program = new Continuable(script)
        build.state = 'READY'
        return build
    }

    void step(Build build) {
        Outcome resume = build.resumeWith
        if (build.pendingInterrupt != null) {
            resume = new Outcome(null, build.pendingInterrupt)
            build.pendingInterrupt = null
        }
        Outcome outcome = build.program.run0(resume)
        if (!build.program.resumable) {
            finish(build, outcome)
            return
        }
        Map request = outcome.normal as Map
        switch (request.step) {
            case 'sh':
                build.resumeWith = runShell(build, request)
                break
            case 'lock':
                build.lockRequest = request
                lockQueue << build
                build.state = 'WAITING_LOCK'
                grantLocks()
                break
            case 'input':
                build.inputRequest = request
                build.state = 'WAITING_INPUT'
                break
            default:
                throw new PipelineError("unknown suspension ${request}")
        }
    }

    void finish(Build build, Outcome outcome) {
        build.state = 'DONE'
        Throwable failure = outcome.abnormal
        if (failure != null) {
            build.setResultAtLeast(failure instanceof FlowInterruptedException ? failure.result : Result.FAILURE)
            build.error = "${failure.class.simpleName}: ${failure.message}".toString()
            build.log << "ERROR: ${failure.message}".toString()
            if (!(failure instanceof FlowInterruptedException || failure instanceof AbortException ||
                  failure instanceof PipelineError)) {
                // Where in the files it happened: the Pipeline code's frames of the CPS stack, as Jenkins logs it.
                build.log.addAll(failure.stackTrace.findAll { it.fileName?.endsWith('.groovy') && !it.className.startsWith('harness.') }
                    .collect { "\tat ${it.className}.${it.methodName}(${it.fileName}:${it.lineNumber})".toString() }.unique())
            }
        }
        // Released even when the program broke off without its finally blocks (the lock step's own cleanup).
        lockHolders.findAll { it.value == build.id }.keySet().toList().each { releaseLock(build, it) }
        build.job.completed << build
        // Stashes are deleted when a build completes, unless preserveStashes() keeps those of the last N builds.
        int keep = (build.vars.preserveStashes ?: 0) as int
        List<Build> done = build.job.completed
        done.eachWithIndex { Build old, int i ->
            if (i < done.size() - keep) {
                old.stashes.clear()
            }
        }
    }

    // -- sh ----------------------------------------------------------------------------------------------

    Outcome runShell(Build build, Map request) {
        String unsaved = ProgramSaver.check(build.program)
        if (unsaved != null) {
            return new Outcome(null, new PipelineError("java.io.NotSerializableException: ${unsaved}"))
        }
        File cwd = new File(request.cwd as String)
        Map<String, String> env = request.env as Map<String, String>
        if (scenario.pauseBeforeSh) {
            onEvent([event: 'before-sh', build: build.id, stage: request.stage, script: request.script])
        }
        Map result = Shell.run(request.script as String, cwd, env, new File(request.workspace as String))
        Map record = request.findAll { it.key in ['script', 'stage', 'label', 'returnStatus', 'returnStdout', 'gstring', 'credentials', 'node'] }
        record.cwd = request.cwd
        record.env = env.findAll { k, v -> agentEnv[k] != v }
        record.unset = agentEnv.keySet().findAll { !env.containsKey(it) }.sort()
        record.exit = result.exit
        record.stdout = result.stdout
        record.stderr = result.stderr
        build.shellRuns << record
        build.log << "+ ${request.label ?: (request.script as String).readLines().find { it.trim() } ?: ''}".toString()
        int exit = result.exit as int
        if (request.returnStdout) {
            return exit == 0 || request.returnStatus ? new Outcome(result.stdout, null) :
                new Outcome(null, new AbortException("script returned exit code ${exit}"))
        }
        if (request.returnStatus) {
            return new Outcome(exit, null)
        }
        return exit == 0 ? new Outcome(null, null) : new Outcome(null, new AbortException("script returned exit code ${exit}"))
    }

    // -- lock --------------------------------------------------------------------------------------------

    /** Lockable Resources: a free resource goes to a waiting build: the newest one when its request says
     *  inversePrecedence, else the one that asked first. */
    void grantLocks() {
        boolean granted = true
        while (granted) {
            granted = false
            Map<String, List<Build>> waiting = lockQueue.groupBy { it.lockRequest.resource as String }
            waiting.each { String resource, List<Build> queue ->
                if (lockHolders.containsKey(resource)) {
                    return
                }
                boolean newestFirst = queue.any { it.lockRequest.inversePrecedence }
                Build next = newestFirst ? queue.last() : queue.first()
                lockQueue.remove(next)
                lockHolders[resource] = next.id
                next.lockEvents << [event: 'acquired', resource: resource, order: ++lockSequence, queued: queue.size() - 1]
                next.lockRequest = null
                next.state = 'READY'
                next.resumeWith = new Outcome(null, null)
                granted = true
            }
        }
    }

    void releaseLock(Build build, String resource) {
        if (lockHolders[resource] == build.id) {
            lockHolders.remove(resource)
            build.lockEvents << [event: 'released', resource: resource]
            grantLocks()
        }
    }

    boolean lockFree(String resource) {
        return !lockHolders.containsKey(resource)
    }

    // -- milestone ---------------------------------------------------------------------------------------

    /** Pipeline: Milestone Step. Builds pass a milestone in build-number order: a build reaching a milestone
     *  that a newer build already passed is aborted; and when a build passes one, every older build that
     *  passed an earlier milestone but not this one is aborted. Ordinals must grow within a build. */
    void passMilestone(Build build, int ordinal) {
        if (build.lastMilestone != null && ordinal <= build.lastMilestone) {
            throw new PipelineError("Invalid ordinal ${ordinal}, as the previous one was ${build.lastMilestone}")
        }
        Integer newer = build.job.milestonePassedBy[ordinal]
        if (newer != null && newer > build.number) {
            build.log << "Superseded by ${build.job.name}#${newer}".toString()
            throw new FlowInterruptedException(Result.NOT_BUILT, "Superseded by ${build.job.name}#${newer}")
        }
        build.job.milestonePassedBy[ordinal] = build.number
        build.lastMilestone = ordinal
        build.milestones << ordinal
        builds.findAll { it.job == build.job && it.number < build.number && it.state != 'DONE' &&
                         it.lastMilestone != null && it.lastMilestone < ordinal }.each { Build older ->
            interrupt(older, new FlowInterruptedException(Result.NOT_BUILT, "Superseded by ${build.job.name}#${build.number}"))
        }
    }

    /** Interrupts another build as Jenkins' Run.doStop / an abort cause does: the step it waits in fails. */
    void interrupt(Build build, FlowInterruptedException cause) {
        build.log << cause.message
        if (build.state in ['WAITING_INPUT', 'WAITING_LOCK']) {
            lockQueue.remove(build)
            build.inputRequest = null
            build.lockRequest = null
            build.state = 'READY'
            build.resumeWith = new Outcome(null, cause)
        } else {
            build.pendingInterrupt = cause
        }
    }

    // -- input -------------------------------------------------------------------------------------------

    /** A person answers the `input` the build waits in, as the scenario says: approve (as a user who must be
     *  one of its submitters), reject, let the enclosing timeout expire, or press the build's Abort. */
    void answer(Build build) {
        Map request = build.inputRequest
        build.inputRequest = null
        build.state = 'READY'
        Map answers = (build.spec.inputs ?: [:]) as Map
        Map answer = (answers[request.id] ?: answers['*']) as Map
        Map record = request.findAll { it.key != 'step' }
        build.inputs << record
        if (answer == null) {
            throw new PipelineError("${build.id}: the scenario does not answer input '${request.id}'")
        }
        record.answer = answer.answer
        String user = answer.by ?: 'release-manager'
        Map<String, List<String>> users = (scenario.users ?: [:]) as Map
        switch (answer.answer) {
            case 'approve':
                List<String> allowed = (request.submitter as String ?: '').tokenize(',').collect { it.trim() }
                List<String> identities = [user] + (users[user] ?: [])
                if (allowed && !identities.any { it in allowed }) {
                    throw new PipelineError("${user} may not approve input '${request.id}' (submitter: ${request.submitter})")
                }
                // With only submitterParameter asked for, the step returns that one value: the approver's id.
                build.resumeWith = new Outcome(request.submitterParameter ? user : null, null)
                break
            case 'reject':
                build.resumeWith = new Outcome(null, new FlowInterruptedException(Result.ABORTED, "Rejected by ${user}"))
                break
            case 'timeout':
                if (request.timeoutMinutes == null) {
                    throw new PipelineError("${build.id}: input '${request.id}' has no timeout around it to expire")
                }
                build.resumeWith = new Outcome(null, new FlowInterruptedException(Result.ABORTED, 'Timeout has been exceeded'))
                break
            case 'abort':
                build.resumeWith = new Outcome(null, new FlowInterruptedException(Result.ABORTED, "Aborted by ${user}"))
                break
            default:
                throw new PipelineError("unknown answer ${answer}")
        }
    }

    // -- credentials -------------------------------------------------------------------------------------

    Map credential(String id, String expectedType) {
        Map found = (scenario.credentials ?: [:])[id] as Map
        if (found == null) {
            throw new AbortException("Could not find credentials entry with ID '${id}'")
        }
        if (found.type != expectedType) {
            throw new AbortException("Credentials '${id}' is of type '${found.type}' where '${expectedType}' was expected")
        }
        return found
    }
}

/** Jenkins saves a running program whenever it waits for an asynchronous step such as `sh`: every object the
 *  program holds then must be Serializable, or the build fails with NotSerializableException. */
class ProgramSaver {
    static String check(Continuable program) {
        try {
            new SavingStream().withCloseable { it.writeObject(program) }
            return null
        } catch (NotSerializableException e) {
            return e.message
        }
    }
}

/** workflow-cps's IteratorHack: the iterators of java.util's lists and maps that a `for` loop holds are saved
 *  as Jenkins saves them (it replaces them with serializable ones), not refused. */
@groovy.transform.CompileStatic
class SavingStream extends ObjectOutputStream {
    SavingStream() {
        super(OutputStream.nullOutputStream())
        enableReplaceObject(true)
    }

    @Override
    protected Object replaceObject(Object object) {
        String name = object == null ? '' : object.getClass().name
        return name.startsWith('java.util.') && (name.contains('Itr') || name.contains('Iterator')) ? 'iterator' : object
    }
}
