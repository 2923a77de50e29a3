package harness

import java.nio.file.Files as NioFiles
import java.nio.file.Path
import java.nio.file.StandardCopyOption
import java.util.regex.Pattern

/** Ant file sets as stash, archiveArtifacts and junit read them, and the file operations of the steps. */
class Files {
    /** Ant's DirectoryScanner default excludes, which stash and archiveArtifacts apply unless told not to. */
    static final List<String> DEFAULT_EXCLUDES = ['**/.git/**', '**/.git', '**/.svn/**', '**/.hg/**', '**/*~',
                                                  '**/#*#', '**/.#*', '**/%*%', '**/._*', '**/.DS_Store']

    /** `includes: 'a/**, b/*.xml'`: comma-separated Ant patterns; `**` any folders, `*` and `?` within a name;
     *  a pattern ending in `/` means everything below it. */
    static List<Pattern> patterns(String spec) {
        if (spec == null || spec.trim().isEmpty()) {
            return []
        }
        return spec.split(',').collect { it.trim() }.findAll { it }.collect { antToRegex(it) }
    }

    static Pattern antToRegex(String pattern) {
        String ant = pattern.replace('\\', '/')
        if (ant.endsWith('/')) {
            ant += '**'
        }
        StringBuilder regex = new StringBuilder()
        int i = 0
        while (i < ant.length()) {
            if (ant.startsWith('**/', i)) {
                regex.append('(?:.*/)?')
                i += 3
            } else if (ant.startsWith('**', i)) {
                regex.append('.*')
                i += 2
            } else if (ant.charAt(i) == '*' as char) {
                regex.append('[^/]*')
                i += 1
            } else if (ant.charAt(i) == '?' as char) {
                regex.append('[^/]')
                i += 1
            } else {
                regex.append(Pattern.quote(ant.substring(i, i + 1)))
                i += 1
            }
        }
        return Pattern.compile(regex.toString())
    }

    /** Files below `root` (relative paths, sorted) that an include pattern matches and no exclude does. */
    static List<String> select(File root, String includes, String excludes = null, boolean defaultExcludes = true) {
        if (!root.isDirectory()) {
            return []
        }
        List<Pattern> wanted = patterns(includes ?: '**')
        List<Pattern> unwanted = patterns(excludes) + (defaultExcludes ? DEFAULT_EXCLUDES.collect { antToRegex(it) } : [])
        List<String> found = []
        Path base = root.toPath()
        root.eachFileRecurse { File file ->
            if (file.isFile()) {
                String relative = base.relativize(file.toPath()).toString().replace(File.separator, '/')
                if (wanted.any { it.matcher(relative).matches() } && !unwanted.any { it.matcher(relative).matches() }) {
                    found << relative
                }
            }
        }
        return found.sort()
    }

    static void copy(File from, File to, List<String> relatives) {
        for (String relative : relatives) {
            File target = new File(to, relative)
            target.parentFile.mkdirs()
            NioFiles.copy(new File(from, relative).toPath(), target.toPath(), StandardCopyOption.REPLACE_EXISTING)
        }
    }

    static void copyTree(File from, File to) {
        copy(from, to, select(from, '**', null, false))
    }

    static void deleteTree(File dir) {
        if (dir.exists()) {
            dir.deleteDir()
        }
    }
}
