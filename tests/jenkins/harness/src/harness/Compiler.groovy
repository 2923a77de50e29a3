package harness

import com.cloudbees.groovy.cps.CpsTransformer
import org.codehaus.groovy.ast.ClassHelper
import org.codehaus.groovy.ast.ClassNode
import org.codehaus.groovy.ast.expr.DeclarationExpression
import org.codehaus.groovy.ast.stmt.ExpressionStatement
import org.codehaus.groovy.classgen.GeneratorContext
import org.codehaus.groovy.control.CompilationFailedException
import org.codehaus.groovy.control.CompilationUnit
import org.codehaus.groovy.control.CompilePhase
import org.codehaus.groovy.control.CompilerConfiguration
import org.codehaus.groovy.control.SourceUnit
import org.codehaus.groovy.control.customizers.CompilationCustomizer
import org.codehaus.groovy.control.customizers.ImportCustomizer

/** Compiles Jenkinsfiles and library vars as workflow-cps does: CpsTransformer on every class, the harness's
 *  PipelineScript (CPS-transformed too) as base class, the class named WorkflowScript for a Jenkinsfile and
 *  after the file for a var, and `@Library` resolved to the annotation Jenkins imports by default. */
class Compiler {
    final GroovyClassLoader cpsLoader
    final CompilerConfiguration scriptConfig
    private final Map<String, Class> cache = [:]

    Compiler(ClassLoader parent, File cpsSources) {
        CompilerConfiguration base = new CompilerConfiguration()
        base.addCompilationCustomizers(new CpsTransformer())
        cpsLoader = new GroovyClassLoader(parent, base)
        // The CPS classes refer to each other: one compilation unit.
        CompilationUnit unit = new CompilationUnit(base, null, cpsLoader)
        cpsSources.listFiles().findAll { it.name.endsWith('.groovy') }.sort { it.name }.each { unit.addSource(it) }
        unit.compile(org.codehaus.groovy.control.Phases.CLASS_GENERATION)  // in memory: no class files written
        unit.classes.each { cpsLoader.defineClass(it.name, it.bytes) }
        scriptConfig = new CompilerConfiguration()
        ImportCustomizer imports = new ImportCustomizer()
        imports.addImport('Library', 'harness.Library')
        scriptConfig.addCompilationCustomizers(imports, new CpsTransformer(), new LibraryCollector())
        scriptConfig.scriptBaseClass = 'harness.PipelineScript'
    }

    /** The compiled class of `file` under `className`, compiled again only when the file changed. */
    synchronized Class compile(File file, String className) {
        String text = file.text
        String key = "${file.canonicalPath}\u0000${className}\u0000${text.hashCode()}\u0000${text.length()}"
        if (!cache.containsKey(key)) {
            GroovyShell shell = new GroovyShell(cpsLoader, new Binding(), scriptConfig)
            try {
                cache[key] = shell.parse(text, "${className}.groovy").getClass()
            } catch (CompilationFailedException e) {
                throw new PipelineError("${file.name}: ${e.message}")
            }
        }
        return cache[key]
    }

    /** The libraries a script asks for with `@Library('name@version') _`, read from the compiled class. */
    static List<String> librariesOf(Class scriptClass) {
        def field = scriptClass.declaredFields.find { it.name == LibraryCollector.FIELD }
        return field ? (field.get(null) as String).tokenize('\n') : []
    }
}

/** Records each `@Library(...)` of a script in a static field of its class, as the library step's
 *  annotation processing learns which libraries to load. */
class LibraryCollector extends CompilationCustomizer {
    static final String FIELD = '$harnessLibraries'

    LibraryCollector() {
        super(CompilePhase.CONVERSION)
    }

    @Override
    void call(SourceUnit source, GeneratorContext context, ClassNode classNode) {
        if (!classNode.isScript()) {
            return
        }
        List<String> names = []
        source.AST.statementBlock.statements.each { statement ->
            if (statement instanceof ExpressionStatement && statement.expression instanceof DeclarationExpression) {
                (statement.expression as DeclarationExpression).annotations.findAll {
                    it.classNode.nameWithoutPackage == 'Library'
                }.each { annotation ->
                    def value = annotation.getMember('value')
                    def texts = value instanceof org.codehaus.groovy.ast.expr.ListExpression ? value.expressions : [value]
                    texts.each { names << it.text }
                }
            }
        }
        classNode.addField(FIELD, java.lang.reflect.Modifier.PUBLIC | java.lang.reflect.Modifier.STATIC,
            ClassHelper.STRING_TYPE, new org.codehaus.groovy.ast.expr.ConstantExpression(names.join('\n')))
    }
}
