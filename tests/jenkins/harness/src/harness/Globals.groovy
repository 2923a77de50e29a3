package harness

/** `env`: reads see the environment of the code that reads it (withEnv, `environment {}`, credentials
 *  included); `env.NAME = value` sets it for the rest of the build, and `env.NAME = null` removes it. */
class EnvGlobal extends GroovyObjectSupport implements Serializable {
    final String buildId

    EnvGlobal(String buildId) {
        this.buildId = buildId
    }

    Object getProperty(String name) {
        Build build = Controller.build(buildId)
        return build.environment(Controller.current, true)[name]
    }

    void setProperty(String name, Object value) {
        Build build = Controller.build(buildId)
        if (value == null) {
            build.buildEnv.remove(name)
        } else {
            build.buildEnv[name] = String.valueOf(value)
        }
    }

    Object getAt(String name) {
        return getProperty(name)
    }
}

/** `currentBuild`: the result can be read and made worse, never better. */
class CurrentBuild extends GroovyObjectSupport implements Serializable {
    final String buildId

    CurrentBuild(String buildId) {
        this.buildId = buildId
    }

    Object getProperty(String name) {
        Build build = Controller.build(buildId)
        switch (name) {
            case 'result': return build.result == Result.SUCCESS ? null : build.result.name()
            case 'currentResult': return build.result.name()
            case 'number': return build.number
            case 'displayName': return "#${build.number}".toString()
            case 'fullProjectName': return build.job.name
            default: throw new MissingPropertyException(name, CurrentBuild)
        }
    }

    void setProperty(String name, Object value) {
        if (name != 'result') {
            throw new ReadOnlyPropertyException(name, CurrentBuild)
        }
        Controller.build(buildId).setResultAtLeast(Result.of(value as String))
    }
}
