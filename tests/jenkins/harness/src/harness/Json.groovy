package harness

/** Step arguments as the test reads them: plain JSON values. A GString becomes its text (the sh record says
 *  separately whether its script was one), a closure `<closure>`, anything else its string. */
class Json {
    static Object safe(Object value) {
        if (value == null || value instanceof Boolean || value instanceof Number || value instanceof String) {
            return value
        }
        if (value instanceof GString) {
            return value.toString()
        }
        if (value instanceof Map) {
            return (value as Map).collectEntries { k, v -> [String.valueOf(k), safe(v)] }
        }
        if (value instanceof Collection || value instanceof Object[]) {
            return (value as List).collect { safe(it) }
        }
        if (value instanceof Closure) {
            return '<closure>'
        }
        return String.valueOf(value)
    }
}

/** What the junit step reads from a JUnit XML report. */
class JUnit {
    static Map read(File file) {
        def root = new XmlSlurper().parse(file)
        List suites = root.name() == 'testsuites' ? root.testsuite.list() : [root]
        List<Map> cases = []
        suites.each { suite ->
            suite.testcase.each { testcase ->
                String status = testcase.failure.size() ? 'failed' : testcase.error.size() ? 'error' :
                    testcase.skipped.size() ? 'skipped' : 'passed'
                cases << [suite: suite.@name.text(), name: testcase.@name.text(), status: status]
            }
        }
        return [tests: cases.size(), failures: cases.count { it.status == 'failed' },
                errors: cases.count { it.status == 'error' }, cases: cases]
    }
}
