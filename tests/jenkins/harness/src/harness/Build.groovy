package harness

import com.cloudbees.groovy.cps.Continuable
import com.cloudbees.groovy.cps.Outcome

/** One job as Jenkins keeps it between builds: its number, whether its parameters are known yet, its
 *  milestones and the results of its earlier builds. */
class Job implements Serializable {
    final String name
    int nextNumber = 1
    /** A new job (the scenario says so) has no parameter definitions until its first build ran `parameters {}`. */
    boolean parameterized = true
    Map<String, Object> parameterDefaults = [:]
    /** Milestone step: per ordinal, the newest build that passed it. */
    Map<Integer, Integer> milestonePassedBy = [:]
    List<Build> completed = []

    Job(String name) {
        this.name = name
    }

    Object writeReplace() {
        return "job:${name}".toString()
    }
}

/** One build: what the scenario asked of it, the state the steps keep, and everything recorded for the test. */
class Build implements Serializable {
    /** The binding variable through which a script finds its build. */
    static final String VARIABLE = '$harnessBuild'
    final Job job
    final int number
    final Map spec
    /** The build's own parameters (`params`): a new job's first build has only the `parameters {}` defaults. */
    Map<String, Object> params = [:]
    /** Whether the parameters are also environment variables: not on a new job's first build (JENKINS-41929). */
    boolean paramsInEnv = false
    /** What `env.NAME = value` set for the whole build. */
    Map<String, String> buildEnv = [:]
    Result result = Result.SUCCESS
    /** The context the running code is in, innermost last: node, dir, env, credentials, timeout, lock, stage. */
    List<Map> frames = []
    Map<String, File> stashes = [:]
    String state = 'READY'
    Continuable program
    Outcome resumeWith = new Outcome(null, null)
    FlowInterruptedException pendingInterrupt
    boolean abortDelivered = false
    /** Milestone step: the last ordinal this build passed. */
    Integer lastMilestone
    Map lockRequest
    Map inputRequest
    String error
    int allocations = 0
    int shells = 0
    Map<String, Object> vars = [:]

    // What the test reads.
    List<Map> stages = []
    List<Map> steps = []
    List<Map> shellRuns = []
    List<Map> inputs = []
    List<String> log = []
    List<Map> junit = []
    List<String> artifacts = []
    List<Map> lockEvents = []
    List<Integer> milestones = []

    Build(Job job, int number, Map spec) {
        this.job = job
        this.number = number
        this.spec = spec
    }

    String getId() {
        return "${job.name}#${number}".toString()
    }

    /** Jenkins pickles live objects when it saves the program; the program refers to the build by its id. */
    Object writeReplace() {
        return "build:${id}".toString()
    }

    void setResultAtLeast(Result worse) {
        result = result.combine(worse)
    }

    Map frame(String type) {
        return frames.reverse().find { it.type == type }
    }

    List<Map> framesOf(String type) {
        return frames.findAll { it.type == type }
    }

    String getStagePath() {
        return framesOf('stage').collect { it.name }.join(' / ')
    }

    String getStageName() {
        Map stage = frame('stage')
        return stage ? stage.name : null
    }

    File getWorkspace() {
        Map node = frame('node')
        return node ? node.workspace as File : null
    }

    /** The current directory: the node's workspace, changed by `dir`. */
    File getCwd() {
        File dir = workspace
        if (dir == null) {
            return null
        }
        for (Map frame : frames) {
            if (frame.type == 'node') {
                dir = frame.workspace as File
            } else if (frame.type == 'dir') {
                String path = frame.path
                dir = path.startsWith('/') ? new File(path) : new File(dir, path)
            }
        }
        return dir
    }

    /** The environment a step sees: Jenkins' own variables, the parameters (unless this is a new job's first
     *  build), `env.X = ...`, then each withEnv, declarative `environment {}` and credential binding in order. */
    Map<String, String> environment(Controller controller, boolean onAgent) {
        Map<String, String> env = [:]
        Map node = frame('node')
        if (onAgent && node) {
            env.putAll(controller.agentEnv)
            env.NODE_NAME = node.agent as String
            env.WORKSPACE = (node.workspace as File).path
            env.EXECUTOR_NUMBER = '0'
        }
        env.JENKINS_URL = controller.jenkinsUrl
        env.JOB_NAME = job.name
        env.JOB_BASE_NAME = job.name.tokenize('/').last()
        env.BUILD_NUMBER = String.valueOf(number)
        env.BUILD_ID = String.valueOf(number)
        env.BUILD_TAG = "jenkins-${job.name.replace('/', '-')}-${number}".toString()
        env.BUILD_URL = "${controller.jenkinsUrl}job/${job.name.tokenize('/').join('/job/')}/${number}/".toString()
        if (stageName != null) {
            env.STAGE_NAME = stageName  // declarative sets it inside each stage
        }
        if (paramsInEnv) {
            params.each { name, value -> EnvVars.override(env, name, value == null ? '' : String.valueOf(value), false) }
        }
        buildEnv.each { name, value -> EnvVars.override(env, name, value, false) }
        for (Map frame : frames) {
            if (frame.type == 'env') {
                EnvVars.overrideAll(env, frame.overrides as List<String>)
            } else if (frame.type == 'credentials') {
                (frame.values as Map<String, String>).each { name, value -> env[name] = value }
            }
        }
        return env
    }

    Map summary() {
        return [
            id: id, job: job.name, number: number, result: result.name(), error: error, params: params,
            paramsInEnv: paramsInEnv, stages: stages, steps: steps, sh: shellRuns, inputs: inputs, log: log,
            junit: junit, artifacts: artifacts, locks: lockEvents, milestones: milestones,
            stashes: stashes.keySet().sort(), allocations: allocations, libraries: vars.libraries,
        ]
    }
}
