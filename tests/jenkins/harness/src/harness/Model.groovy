package harness

/** The declarative directives, read as Jenkins' model parser reads them. Each directive's closure runs once
 *  with one of these as its delegate, which records what it names; the closures of `steps`, `post` conditions,
 *  `when { expression }` and `environment` values run later, with no delegate, so a step name that is also a
 *  directive (`input`, `timeout`, `lock`, `environment`) reaches the step. Anything else is refused, as
 *  declarative validation refuses it. */
abstract class Directives implements Serializable {
    protected final String where

    Directives(String where) {
        this.where = where
    }

    protected void once(Map seen, String name, Object value) {
        if (seen.containsKey(name)) {
            throw new PipelineError("Multiple occurrences of the ${name} section in ${where}")
        }
        seen[name] = value
    }

    def methodMissing(String name, Object args) {
        throw new PipelineError("${where}: '${name}' is not allowed here (declarative validation)")
    }
}

/** `agent none`, `agent any`, `agent { label 'x' }`. */
class AgentSpec implements Serializable {
    final String kind
    final String label

    AgentSpec(String kind, String label) {
        this.kind = kind
        this.label = label
    }
}

class AgentModel extends Directives {
    String label

    AgentModel() {
        super('agent')
    }

    void label(String value) {
        label = value
    }
}

/** What both `pipeline {}` and `stage {}` may hold. */
abstract class Section extends Directives {
    Map<String, Object> parts = [:]

    Section(String where) {
        super(where)
    }

    AgentSpec getNone() {
        return new AgentSpec('none', null)
    }

    AgentSpec getAny() {
        return new AgentSpec('any', null)
    }

    void agent(AgentSpec spec) {
        once(parts, 'agent', spec)
    }

    void agent(Closure body) {
        once(parts, 'agent', body)
    }

    void environment(Closure body) {
        once(parts, 'environment', body)
    }

    void options(Closure body) {
        once(parts, 'options', body)
    }

    void stages(Closure body) {
        once(parts, 'stages', body)
    }

    void post(Closure body) {
        once(parts, 'post', body)
    }

    void tools(Closure body) {
        once(parts, 'tools', body)
    }
}

class PipelineModel extends Section {
    PipelineModel() {
        super('pipeline')
    }

    void parameters(Closure body) {
        once(parts, 'parameters', body)
    }

    void triggers(Closure body) {
        once(parts, 'triggers', body)
    }
}

class StageModel extends Section {
    final String name

    StageModel(String name) {
        super("stage '${name}'".toString())
        this.name = name
    }

    void steps(Closure body) {
        once(parts, 'steps', body)
    }

    void when(Closure body) {
        once(parts, 'when', body)
    }

    void input(Map args) {
        once(parts, 'input', args)
    }

    void parallel(Closure body) {
        throw new PipelineError("${where}: parallel stages are not modelled by this harness")
    }

    void failFast(boolean value) {
        parts.failFast = value
    }
}

class StagesModel extends Directives {
    List<List> stages = []

    StagesModel() {
        super('stages')
    }

    void stage(String name, Closure body) {
        if (stages.any { it[0] == name }) {
            throw new PipelineError("Duplicate stage name: \"${name}\"")
        }
        stages << [name, body]
    }
}

/** `parameters {}`: each definition's type, name and default. */
class ParametersModel extends Directives {
    List<Map> definitions = []

    ParametersModel() {
        super('parameters')
    }

    private void define(String type, Map args, Object fallback) {
        if (!args.name) {
            throw new PipelineError("parameters: ${type} needs a name")
        }
        definitions << [type: type, name: args.name, defaultValue: args.containsKey('defaultValue') ? args.defaultValue : fallback]
    }

    void string(Map args) {
        define('string', args, '')
    }

    void text(Map args) {
        define('text', args, '')
    }

    void booleanParam(Map args) {
        define('boolean', args, false)
    }

    void choice(Map args) {
        List choices = args.choices instanceof String ? (args.choices as String).readLines() : args.choices as List
        definitions << [type: 'choice', name: args.name, defaultValue: choices ? choices[0] : '']
    }

    void password(Map args) {
        define('password', args, '')
    }
}

/** `environment { NAME = value }`: the assignments in order. `credentials('id')` is not modelled. */
class EnvironmentModel extends Directives {
    List<List> entries = []

    EnvironmentModel() {
        super('environment')
    }

    def propertyMissing(String name, Object value) {
        entries << [name, value]
    }
}

/** `options {}`: job properties and wrappers, recorded by name. */
class OptionsModel extends Directives {
    List<List> options = []

    OptionsModel(String where) {
        super("options of ${where}".toString())
    }

    private Map record(String name, Object args) {
        options << [name, args]
        return [option: name, args: args]
    }

    void lock(Map args) {
        record('lock', args)
    }

    void lock(String resource) {
        record('lock', [resource: resource])
    }

    void buildDiscarder(Object strategy) {
        record('buildDiscarder', strategy)
    }

    Map logRotator(Map args) {
        return [logRotator: args]
    }

    void preserveStashes(Map args = [:]) {
        record('preserveStashes', args)
    }

    void timeout(Map args) {
        record('timeout', args)
    }

    void disableConcurrentBuilds(Map args = [:]) {
        record('disableConcurrentBuilds', args)
    }

    void skipDefaultCheckout(boolean value = true) {
        record('skipDefaultCheckout', value)
    }

    void timestamps() {
        record('timestamps', [:])
    }

    void disableResume() {
        record('disableResume', [:])
    }

    void durabilityHint(String value) {
        record('durabilityHint', value)
    }
}

/** `post {}`: the condition blocks, run in declarative's fixed order whatever order the file gives. */
class PostModel extends Directives {
    static final List<String> ORDER = ['always', 'changed', 'fixed', 'regression', 'aborted', 'failure', 'success',
                                       'unstable', 'unsuccessful', 'notBuilt', 'cleanup']
    Map<String, Closure> conditions = [:]

    PostModel(String where) {
        super("post of ${where}".toString())
    }

    def methodMissing(String name, Object args) {
        if (!(name in ORDER) || !(args instanceof Object[]) || (args as Object[]).length != 1 ||
            !((args as Object[])[0] instanceof Closure)) {
            throw new PipelineError("${where}: '${name}' is not a post condition")
        }
        once(conditions, name, (args as Object[])[0])
    }
}

/** `when {}`: conditions, all of which must hold. */
class WhenModel extends Directives {
    List<List> conditions = []
    boolean beforeAgent = false

    WhenModel() {
        super('when')
    }

    void expression(Closure body) {
        conditions << ['expression', body]
    }

    void not(Closure body) {
        conditions << ['not', body]
    }

    void allOf(Closure body) {
        conditions << ['allOf', body]
    }

    void anyOf(Closure body) {
        conditions << ['anyOf', body]
    }

    void environment(Map args) {
        conditions << ['environment', args]
    }

    void equals(Map args) {
        conditions << ['equals', args]
    }

    void beforeAgent(boolean value) {
        beforeAgent = value
    }
}
