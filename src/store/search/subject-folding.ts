import { sql } from 'kysely';
import { SUBJECT_SEARCHED_CHARACTERS } from '../../domain/operations/message-query.ts';

/**
 * PostgreSQL's subject words fold Latin accents as subjectWords() does (and SQLite's FTS5 with
 * remove_diacritics): the background index (index-subjects.ts) and the search of messages it has
 * not reached yet use exactly this expression. Changing it changes only what is indexed later.
 */
export const ACCENTED =
  'ÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖÙÚÛÜÝàáâãäåçèéêëìíîïñòóôõöùúûüýÿĀāĂăĄąĆćĈĉĊċČčĎďĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĨĩĪīĬĭĮįİĴĵĶķĹĺĻļĽľŃńŅņŇňŌōŎŏŐőŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŨũŪūŬŭŮůŰűŲųŴŵŶŷŸŹźŻżŽžƠơƯưǍǎǏǐǑǒǓǔǕǖǗǘǙǚǛǜǞǟǠǡǦǧǨǩǪǫǬǭǰǴǵǸǹǺǻȀȁȂȃȄȅȆȇȈȉȊȋȌȍȎȏȐȑȒȓȔȕȖȗȘșȚțȞȟȦȧȨȩȪȫȬȭȮȯȰȱȲȳ';
export const UNACCENTED =
  'aaaaaaceeeeiiiinooooouuuuyaaaaaaceeeeiiiinooooouuuuyyaaaaaaccccccccddeeeeeeeeeegggggggghhiiiiiiiiijjkkllllllnnnnnnoooooorrrrrrssssssssttttuuuuuuuuuuuuwwyyyzzzzzzoouuaaiioouuuuuuuuuuaaaaggkkoooojggnnaaaaaaeeeeiiiioooorrrruuuusstthhaaeeooooooooyy';

/**
 * A subject's words as a tsvector, for a given subject column reference: of its first
 * SUBJECT_SEARCHED_CHARACTERS, as hasAllWords reads it (a tsvector holds at most 1 MB).
 */
export function subjectWordsVector(subject: ReturnType<typeof sql.ref>) {
  return sql`to_tsvector('simple', translate(left(${subject}, ${sql.lit(SUBJECT_SEARCHED_CHARACTERS)}), ${sql.lit(ACCENTED)}, ${sql.lit(UNACCENTED)}))`;
}
