package harness

import java.lang.annotation.ElementType
import java.lang.annotation.Retention
import java.lang.annotation.RetentionPolicy
import java.lang.annotation.Target

/** org.jenkinsci.plugins.workflow.libs.Library: `@Library('name@version') _` loads a shared library. */
@Retention(RetentionPolicy.SOURCE)
@Target([ElementType.TYPE, ElementType.LOCAL_VARIABLE, ElementType.FIELD, ElementType.METHOD, ElementType.PACKAGE])
@interface Library {
    String[] value()
    boolean changelog() default true
}
