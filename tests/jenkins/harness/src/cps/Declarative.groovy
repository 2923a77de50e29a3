package harness

import com.cloudbees.groovy.cps.NonCPS

/** Declarative Pipeline as pipeline-model-definition's ModelInterpreter runs it: job properties
 *  (`parameters`, `options`) first; then the pipeline's agent, its `environment`, its option wrappers (a
 *  `lock` holds the whole build, `post` included), the stages in order, and the pipeline's `post`. A stage:
 *  its `environment`, then `when`, then its agent (with the automatic `checkout scm`), its steps or nested
 *  stages, then its `post`. After a stage fails, later stages are skipped; `post` conditions run in
 *  declarative's order against the build's result combined with the error at hand, so `unsuccessful` covers
 *  FAILURE, UNSTABLE, ABORTED and NOT_BUILT. CPS-transformed: it calls the file's closures. */
class Declarative implements Serializable {
    PipelineScript script
    Throwable firstError
    boolean postRun = false

    def run(PipelineScript script, Closure body) {
        this.script = script
        PipelineModel root = new PipelineModel()
        collect(body, root)
        Map tree = readSection(root)
        if (root.parts.parameters != null) {
            ParametersModel parameters = new ParametersModel()
            collect(root.parts.parameters as Closure, parameters)
            declareParameters(parameters.definitions)
        } else {
            declareParameters([])
        }
        List<List> options = []
        if (root.parts.options != null) {
            OptionsModel model = new OptionsModel('pipeline')
            collect(root.parts.options as Closure, model)
            options = model.options
        }
        applyJobOptions(options)
        try {
            inAgent(root.parts.agent, options, true) {
                withEnvironment(root.parts.environment as Closure) {
                    inWrappers(options) {
                        runStages(tree.stages as List<Map>)
                        runPipelinePost(tree.post as Map)
                    }
                }
            }
        } catch (Throwable e) {
            noteError(e)
        }
        if (!postRun) {
            // Something before the stages failed (a lock wait interrupted, say): post runs all the same.
            runPipelinePost(tree.post as Map)
        }
        if (firstError != null) {
            throw firstError
        }
        return null
    }

    /** The pipeline's `post`, in the synthetic stage Jenkins shows as "Declarative: Post Actions". */
    def runPipelinePost(Map conditions) {
        postRun = true
        if (conditions == null) {
            return null
        }
        String token = script.push([type: 'stage', name: 'Declarative: Post Actions'])
        try {
            Throwable error = runPost(conditions, null)
            if (error != null) {
                noteError(error)
            }
        } finally {
            script.pop(token)
        }
        return null
    }

    // -- reading the model -------------------------------------------------------------------------------

    /** Runs a directive's closure with the model as delegate, then detaches it, so that the closures it
     *  recorded resolve their calls to the script's steps later. */
    def collect(Closure body, Object model) {
        body.delegate = model
        body.resolveStrategy = Closure.DELEGATE_FIRST
        try {
            body.call()
        } finally {
            body.delegate = null
            body.resolveStrategy = Closure.OWNER_FIRST
        }
        return model
    }

    def readSection(Section section) {
        Map tree = [:]
        if (section.parts.stages != null) {
            StagesModel stages = new StagesModel()
            collect(section.parts.stages as Closure, stages)
            if (stages.stages.isEmpty()) {
                throw new PipelineError('No stages specified')
            }
            List<Map> read = []
            for (List entry : stages.stages) {
                StageModel stage = new StageModel(entry[0] as String)
                collect(entry[1] as Closure, stage)
                Map node = readSection(stage)
                node.name = stage.name
                node.model = stage
                if ((stage.parts.steps == null) == (stage.parts.stages == null)) {
                    throw new PipelineError("Stage \"${stage.name}\" must have one of steps or stages")
                }
                read << node
            }
            tree.stages = read
        }
        if (section.parts.post != null) {
            PostModel post = new PostModel(section.where)
            collect(section.parts.post as Closure, post)
            tree.post = post.conditions
        }
        return tree
    }

    // -- job properties ----------------------------------------------------------------------------------

    /** `parameters {}` defines the job's parameters for the builds after this one. This build has the values
     *  it was started with; on a job's first build there were no definitions yet, so `params` holds only the
     *  defaults and none of them is an environment variable (JENKINS-41929). */
    @NonCPS
    void declareParameters(List<Map> definitions) {
        Build build = Controller.build(script.buildId())
        Map given = (build.spec.params ?: [:]) as Map
        Map values = [:]
        definitions.each { Map definition ->
            Object value = definition.defaultValue
            if (build.job.parameterized && given.containsKey(definition.name)) {
                value = given[definition.name]
                if (definition.type == 'boolean') {
                    value = value instanceof Boolean ? value : String.valueOf(value).toBoolean()
                }
            }
            values[definition.name] = value
        }
        build.params = values
        build.paramsInEnv = build.job.parameterized && !definitions.isEmpty()
        build.vars.firstBuild = !build.job.parameterized
        build.job.parameterized = true
        build.job.parameterDefaults = values
    }

    @NonCPS
    void applyJobOptions(List<List> options) {
        Build build = Controller.build(script.buildId())
        options.each { List option ->
            if (option[0] == 'preserveStashes') {
                // preserveStashes(buildCount: N): the stashes of the N most recent completed builds are kept.
                build.vars.preserveStashes = ((option[1] as Map).buildCount ?: 1) as int
            }
            if (option[0] == 'skipDefaultCheckout') {
                build.vars.skipDefaultCheckout = option[1]
            }
        }
        build.vars.options = options.collect { it[0] }
    }

    def inWrappers(List<List> options, Closure body) {
        List<List> wrappers = options.findAll { it[0] in ['lock', 'timeout'] }
        return wrap(wrappers, 0, body)
    }

    def wrap(List<List> wrappers, int index, Closure body) {
        if (index >= wrappers.size()) {
            return body()
        }
        List wrapper = wrappers[index]
        if (wrapper[0] == 'lock') {
            return script.lock(wrapper[1] as Map) { wrap(wrappers, index + 1, body) }
        }
        return script.timeout(wrapper[1] as Map) { wrap(wrappers, index + 1, body) }
    }

    // -- agents and environment --------------------------------------------------------------------------

    /** `agent none` or none given: no node. `agent any` / `agent { label 'x' }`: a node, its workspace checked
     *  out (`checkout scm`) unless skipDefaultCheckout. */
    def inAgent(Object agent, List<List> options, boolean top, Closure body) {
        String label = agentLabel(agent)
        if (label == null) {
            return body()
        }
        return script.node(label == '' ? null : label) {
            if (!Controller.build(script.buildId()).vars.skipDefaultCheckout) {
                script.checkout(script.getProperty('scm'))
            }
            body()
        }
    }

    /** null: no agent; '': any agent; else the label. An `agent {}` closure is read here. */
    def agentLabel(Object agent) {
        if (agent == null) {
            return null
        }
        if (agent instanceof AgentSpec) {
            return agent.kind == 'any' ? '' : null
        }
        AgentModel model = new AgentModel()
        collect(agent as Closure, model)
        if (model.label == null) {
            throw new PipelineError('agent: only `none`, `any` and `label` are modelled')
        }
        return model.label
    }

    /** `environment {}`: evaluated where it stands, applied as withEnv (an empty value unsets the name). */
    def withEnvironment(Closure environment, Closure body) {
        if (environment == null) {
            return body()
        }
        EnvironmentModel model = new EnvironmentModel()
        collect(environment, model)
        List<String> entries = model.entries.collect { List entry -> "${entry[0]}=${entry[1] == null ? '' : entry[1]}".toString() }
        return script.withEnv(entries) { body() }
    }

    // -- stages ------------------------------------------------------------------------------------------

    def runStages(List<Map> stages) {
        for (Map stage : stages) {
            runStage(stage)
        }
    }

    def runStage(Map stage) {
        StageModel model = stage.model as StageModel
        Map record = [name: stage.name, path: null, status: null]
        String token = pushStage(stage.name as String, record)
        try {
            if (skippedForRestart(stage.name as String)) {
                record.status = 'SKIPPED_FOR_RESTART'
            } else if (firstError != null) {
                record.status = 'SKIPPED_FOR_FAILURE'
            } else {
                withEnvironment(model.parts.environment as Closure) {
                    if (when(model.parts.when as Closure)) {
                        inAgent(model.parts.agent, [], false) {
                            runStageBody(stage, record)
                        }
                    } else {
                        record.status = 'SKIPPED_FOR_CONDITIONAL'
                    }
                }
            }
        } catch (Throwable e) {
            failStage(record, e)
            noteError(e)
        } finally {
            popStage(token, record)
        }
    }

    def runStageBody(Map stage, Map record) {
        StageModel model = stage.model as StageModel
        Throwable stageError = null
        try {
            if (model.parts.stages != null) {
                runStages(stage.stages as List<Map>)
                if (firstError != null) {
                    stageError = firstError
                    failStage(record, stageError)
                }
            } else {
                Closure steps = model.parts.steps as Closure
                steps.call()
            }
        } catch (Throwable e) {
            stageError = e
            failStage(record, e)
        }
        Throwable postError = runPost(stage.post as Map, stageError)
        if (postError != null) {
            failStage(record, postError)
            if (stageError == null) {
                stageError = postError
            }
        }
        if (stageError != null && model.parts.stages == null) {
            throw stageError
        }
        if (postError != null) {
            throw postError
        }
    }

    /** The post conditions that hold, in declarative's order; each block's failure is noted and the rest
     *  still run. Returns the first error of the blocks. */
    def runPost(Map conditions, Throwable error) {
        if (conditions == null) {
            return null
        }
        Throwable first = null
        for (String name : PostModel.ORDER) {
            Closure block = conditions[name] as Closure
            if (block != null && holds(name, error)) {
                try {
                    block.call()
                } catch (Throwable e) {
                    noteResult(e)
                    if (first == null) {
                        first = e
                    }
                }
            }
        }
        return first
    }

    @NonCPS
    boolean holds(String condition, Throwable error) {
        Build build = Controller.build(script.buildId())
        Result result = build.result.combine(error == null ? null : errorResult(error))
        Build previous = build.job.completed ? build.job.completed.last() : null
        Result before = previous?.result
        switch (condition) {
            case 'always': return true
            case 'cleanup': return true
            case 'success': return result == Result.SUCCESS
            case 'unstable': return result == Result.UNSTABLE
            case 'failure': return result == Result.FAILURE
            case 'aborted': return result == Result.ABORTED
            case 'notBuilt': return result == Result.NOT_BUILT
            case 'unsuccessful': return result != Result.SUCCESS
            case 'changed': return before != null && before != result
            case 'fixed': return result == Result.SUCCESS && before in [Result.FAILURE, Result.UNSTABLE]
            case 'regression': return before == Result.SUCCESS && result in [Result.FAILURE, Result.UNSTABLE, Result.ABORTED]
            default: return false
        }
    }

    /** `when {}`: every condition must hold. */
    def when(Closure body) {
        if (body == null) {
            return true
        }
        WhenModel model = new WhenModel()
        collect(body, model)
        return allHold(model.conditions)
    }

    def allHold(List<List> conditions) {
        for (List condition : conditions) {
            if (!conditionHolds(condition)) {
                return false
            }
        }
        return true
    }

    def conditionHolds(List condition) {
        switch (condition[0]) {
            case 'expression':
                return (condition[1] as Closure).call() as boolean
            case 'not':
                return !when(condition[1] as Closure)
            case 'allOf':
                return when(condition[1] as Closure)
            case 'anyOf':
                WhenModel model = new WhenModel()
                collect(condition[1] as Closure, model)
                for (List inner : model.conditions) {
                    if (conditionHolds(inner)) {
                        return true
                    }
                }
                return false
            case 'environment':
                Map args = condition[1] as Map
                return script.getProperty('env').getProperty(args.name as String) == args.value
            case 'equals':
                Map args = condition[1] as Map
                return args.expected == args.actual
            default:
                throw new PipelineError("when: ${condition[0]} is not modelled")
        }
    }

    // -- bookkeeping -------------------------------------------------------------------------------------

    @NonCPS
    String pushStage(String name, Map record) {
        Build build = Controller.build(script.buildId())
        String token = script.push([type: 'stage', name: name])
        record.path = build.stagePath
        return token
    }

    @NonCPS
    void popStage(String token, Map record) {
        Build build = Controller.build(script.buildId())
        Map frame = script.pop(token)
        Result caught = frame?.result as Result
        if (record.status == null) {
            record.status = (caught ?: Result.SUCCESS).name()
        }
        build.stages << record
    }

    @NonCPS
    boolean skippedForRestart(String name) {
        Build build = Controller.build(script.buildId())
        String from = build.vars.restartFrom
        if (from == null || build.vars.restarted) {
            return false
        }
        if (name == from) {
            build.vars.restarted = true
            return false
        }
        return true
    }

    @NonCPS
    static Result errorResult(Throwable e) {
        return e instanceof FlowInterruptedException ? e.result : Result.FAILURE
    }

    @NonCPS
    void failStage(Map record, Throwable e) {
        record.status = errorResult(e).name()
        record.error = e.message
        noteResult(e)
    }

    @NonCPS
    void noteResult(Throwable e) {
        Controller.build(script.buildId()).setResultAtLeast(errorResult(e))
    }

    @NonCPS
    void noteError(Throwable e) {
        noteResult(e)
        if (firstError == null) {
            firstError = e
        }
    }
}
