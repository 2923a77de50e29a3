package harness

/** A build's or stage's result, ordered as hudson.model.Result orders them: a result only ever gets worse. */
enum Result {
    SUCCESS, UNSTABLE, FAILURE, NOT_BUILT, ABORTED

    Result combine(Result other) {
        return other != null && other.ordinal() > ordinal() ? other : this
    }

    static Result of(String name) {
        return name == null ? null : valueOf(name.toUpperCase())
    }
}

/** hudson.AbortException: a step's own failure, e.g. `error` or `sh` exiting non-zero; the build FAILS. */
class AbortException extends RuntimeException {
    AbortException(String message) {
        super(message)
    }
}

/** FlowInterruptedException: the build was interrupted (Abort pressed, a rejected `input`, a timeout, a
 *  milestone passed by a newer build); the result it carries (ABORTED) becomes the build's. */
class FlowInterruptedException extends RuntimeException {
    final Result result

    FlowInterruptedException(Result result, String why) {
        super(why)
        this.result = result
    }
}

/** Something a Jenkinsfile did that Jenkins itself would refuse (declarative validation, a step without the
 *  context it needs). The build fails with it, as on Jenkins. */
class PipelineError extends RuntimeException {
    PipelineError(String message) {
        super(message)
    }
}
