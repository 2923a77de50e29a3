package harness

import java.util.concurrent.TimeUnit

/** The `sh` step as durable-task runs it: the script is written to a file in `<workspace>@tmp` and run by
 *  `sh -xe` (or by its own interpreter when it starts with `#!`), in the current directory, with exactly the
 *  step's environment. */
class Shell {
    static final long LIMIT_MINUTES = 15  // a guard against a hung command, not a measurement

    static Map run(String script, File cwd, Map<String, String> env, File workspace) {
        cwd.mkdirs()
        File tmp = new File("${workspace.path}@tmp/durable-${UUID.randomUUID().toString().take(8)}")
        tmp.mkdirs()
        File file = new File(tmp, 'script.sh')
        file.text = script
        List<String> command = script.startsWith('#!') ? [file.path] : ['sh', '-xe', file.path]
        if (script.startsWith('#!')) {
            file.setExecutable(true)
        }
        ProcessBuilder builder = new ProcessBuilder(command).directory(cwd)
        builder.environment().clear()
        builder.environment().putAll(env)
        builder.redirectInput(ProcessBuilder.Redirect.from(new File('/dev/null')))
        File out = new File(tmp, 'output.txt')
        File err = new File(tmp, 'jenkins-log.txt')
        builder.redirectOutput(out)
        builder.redirectError(err)
        Process process = builder.start()
        if (!process.waitFor(LIMIT_MINUTES, TimeUnit.MINUTES)) {
            process.destroyForcibly()
            throw new PipelineError("sh did not end within ${LIMIT_MINUTES} minutes: ${script.take(200)}")
        }
        Map result = [exit: process.exitValue(), stdout: out.text, stderr: err.text]
        tmp.deleteDir()
        return result
    }
}
