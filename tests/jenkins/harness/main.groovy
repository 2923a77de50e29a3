// The harness's JVM: reads one scenario a line (JSON) on stdin, runs its builds under groovy-cps with the
// stubs of src/, and answers with one JSON line of what each build did. While a scenario runs it may write an
// event line ({"event": ...}) and wait for a reply line before it goes on. Started once per test session by
// tests/jenkins/harness.py: `java -cp <jars> groovy.ui.GroovyMain main.groovy`.
import groovy.json.JsonOutput
import groovy.json.JsonSlurper

File here = new File(System.getProperty('harness.dir'))
GroovyClassLoader runtime = new GroovyClassLoader(this.class.classLoader)
// The runtime classes refer to each other: compile them as one unit.
def unit = new org.codehaus.groovy.control.CompilationUnit(runtime)
new File(here, 'src/harness').listFiles().findAll { it.name.endsWith('.groovy') }.sort { it.name }.each { unit.addSource(it) }
unit.compile(org.codehaus.groovy.control.Phases.CLASS_GENERATION)  // in memory: no class files written
unit.classes.each { runtime.defineClass(it.name, it.bytes) }
def compilerClass = runtime.loadClass('harness.Compiler')
def compiler = compilerClass.newInstance(runtime, new File(here, 'src/cps'))
def controllerClass = runtime.loadClass('harness.Controller')

BufferedReader input = new BufferedReader(new InputStreamReader(System.in, 'UTF-8'))
PrintStream output = new PrintStream(new FileOutputStream(FileDescriptor.out), true, 'UTF-8')
System.setOut(System.err)  // anything a script prints must not mix with the answers
output.println(JsonOutput.toJson([ready: true]))
String line
while ((line = input.readLine()) != null) {
    if (!line.trim()) {
        continue
    }
    Map scenario = new JsonSlurper().parseText(line) as Map
    Closure<Map> onEvent = { Map event ->
        output.println(JsonOutput.toJson(event))
        String reply = input.readLine()
        return reply ? new JsonSlurper().parseText(reply) as Map : [:]
    }
    Map answer
    try {
        def controller = controllerClass.newInstance(scenario, compiler, onEvent)
        answer = [builds: controller.run()]
    } catch (Throwable e) {
        StringWriter trace = new StringWriter()
        e.printStackTrace(new PrintWriter(trace))
        answer = [harnessError: "${e.class.name}: ${e.message}".toString(), trace: trace.toString()]
    }
    output.println(JsonOutput.toJson(answer))
}
